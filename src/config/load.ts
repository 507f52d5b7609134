/**
 * Load and validate the configuration: one YAML (or JSON) file plus environment overrides.
 * An invalid config is refused before anything starts, with one line per problem naming the
 * key, what is wrong, and the form expected (the key's description from the schema).
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { configSchema, type Config } from './index.ts'
import { rootPath } from '../paths.ts'

export const CONFIG_DIR = `${rootPath('config')}${path.sep}`
export const DEFAULT_CONFIG = path.join(CONFIG_DIR, 'tenure.yaml')
export const SANDBOX_CONFIG = path.join(CONFIG_DIR, 'sandbox.yaml')

export interface ConfigProblem {
  key: string
  message: string
  expected?: string
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[]
  readonly file: string | undefined
  constructor(file: string | undefined, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.key}: ${p.message}${p.expected ? ` (expected: ${p.expected})` : ''}`)
    super(`Invalid configuration${file ? ` in ${file}` : ''}:\n${lines.join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
    this.file = file
  }
}

/** Environment variables that override file keys. Secrets are referenced with { env: NAME } instead. */
export const ENV_OVERRIDES: Array<{ env: string; key: string[] }> = [
  { env: 'PORT', key: ['server', 'port'] },
  { env: 'HOST', key: ['server', 'host'] },
  { env: 'DATABASE_URL', key: ['database', 'url'] },
  { env: 'TENURE_DATA_DIR', key: ['database', 'dataDir'] },
  { env: 'LOG_LEVEL', key: ['log', 'level'] },
  { env: 'LOG_FORMAT', key: ['log', 'format'] },
]

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target
  for (const key of keys.slice(0, -1)) {
    const next = node[key]
    if (next === undefined || next === null || typeof next !== 'object') node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[keys[keys.length - 1]!] = value
}

/** Find the description of the schema node at a key path, to tell the user what is expected. */
function describeKey(schema: z.ZodType, keys: PropertyKey[]): string | undefined {
  let node: z.ZodType | undefined = schema
  let description: string | undefined
  for (const key of keys) {
    node = unwrap(node)
    if (!node) return description
    if (node instanceof z.ZodObject) node = (node.shape as Record<string, z.ZodType>)[String(key)]
    else if (node instanceof z.ZodArray) node = node.element as z.ZodType
    else if (node instanceof z.ZodRecord) node = node.valueType as z.ZodType
    else return description
    if (node?.description) description = node.description
  }
  return node?.description ?? description
}

function unwrap(node: z.ZodType | undefined): z.ZodType | undefined {
  let current = node
  for (let i = 0; i < 10 && current; i++) {
    const def = (current as { def?: { type?: string; innerType?: z.ZodType; in?: z.ZodType } }).def
    if (def?.innerType) current = def.innerType
    else if (def?.type === 'pipe' && def.in) current = def.in
    else break
  }
  return current
}

export function validateConfig(raw: unknown, file?: string): Config {
  const result = configSchema.safeParse(raw ?? {})
  if (result.success) return result.data
  const problems = result.error.issues.map((issue): ConfigProblem => {
    const key = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)'
    let message = issue.message
    if (issue.code === 'unrecognized_keys') {
      const names = issue.keys.join(', ')
      return { key: issue.path.length > 0 ? `${key}.${names}` : names, message: 'unknown key (check the spelling; see docs/configuration.md)' }
    }
    if (issue.code === 'invalid_type' && message.startsWith('Invalid input')) message = `expected ${issue.expected}`
    return { key, message, expected: describeKey(configSchema, issue.path) }
  })
  throw new ConfigError(file, problems)
}

export interface LoadOptions {
  /** Explicit file; otherwise TENURE_CONFIG, otherwise the default (or the sandbox config). */
  file?: string
  sandbox?: boolean
  env?: NodeJS.ProcessEnv
}

export async function loadConfig(options: LoadOptions = {}): Promise<{ config: Config; file: string }> {
  const env = options.env ?? process.env
  const file = path.resolve(options.file ?? env.TENURE_CONFIG ?? (options.sandbox ? SANDBOX_CONFIG : DEFAULT_CONFIG))
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [{ key: '(file)', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }])
  }
  let raw: unknown
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new ConfigError(file, [{ key: '(file)', message: `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}` }])
  }
  if (raw === null || raw === undefined) raw = {}
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ key: '(top level)', message: 'the file must hold a mapping of sections (server, database, ...)' }])
  }
  const merged = structuredClone(raw) as Record<string, unknown>
  for (const { env: name, key } of ENV_OVERRIDES) {
    const value = env[name]
    if (value !== undefined && value !== '') setPath(merged, key, value)
  }
  return { config: validateConfig(merged, file), file }
}
