/**
 * Helpers for tests of the HR intake (and for anyone replaying a delivery by hand): build a
 * config from literal values, build a RawDelivery, read a fixture.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { hrSourceConfigSchema, type HrSource, type HrSourceConfig, type HrSourceConfigInput, type RawDelivery } from './types.ts'
import { rootPath } from '../paths.ts'

export const FIXTURES_DIR = rootPath('test', 'fixtures', 'hr')

export function fixture(source: HrSource, name: string): Buffer {
  return readFileSync(path.join(FIXTURES_DIR, source, name))
}

export function sourceConfig(input: HrSourceConfigInput): HrSourceConfig {
  return hrSourceConfigSchema.parse(input)
}

export function delivery(
  source: HrSource,
  body: Buffer | string,
  headers: Record<string, string> = {},
  options: { contentType?: string | undefined; receivedAt?: Date; method?: string } = {},
): RawDelivery {
  const contentType = 'contentType' in options ? options.contentType : 'application/json'
  const lower: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v
  if (contentType !== undefined) lower['content-type'] = contentType
  return {
    source,
    headers: lower,
    body: typeof body === 'string' ? Buffer.from(body) : body,
    contentType,
    receivedAt: options.receivedAt ?? new Date(),
    method: options.method ?? 'POST',
  }
}
