import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { CONFIG_DOCS, renderConfigDocs } from '../scripts/config-docs.ts'
import { DATA_DICTIONARY, renderDataDictionary } from '../scripts/data-dictionary.ts'

test('when the config schema changes, then docs/configuration.md is regenerated (npm run docs:config)', async () => {
  const onDisk = await readFile(CONFIG_DOCS, 'utf8')
  assert.equal(onDisk, renderConfigDocs(), 'docs/configuration.md is out of date: run `npm run docs:config`')
})

test('when a field mapping changes, then docs/data-dictionary.md is regenerated (npm run docs:dictionary)', async () => {
  const onDisk = await readFile(DATA_DICTIONARY, 'utf8')
  assert.equal(onDisk, renderDataDictionary(), 'docs/data-dictionary.md is out of date: run `npm run docs:dictionary`')
})
