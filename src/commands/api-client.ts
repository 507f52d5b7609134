/**
 * How CLI subcommands that act as a person (`tenure exceptions …`, `tenure hr holds …`) call the
 * running server: through the HTTP API with the caller's own token (TENURE_TOKEN at TENURE_URL),
 * so the API's roles and four-eyes rules apply exactly as in the console.
 */

/** A failure to show the user as one line, without a stack. */
export class CliError extends Error {}

export interface ApiClientDeps {
  env: NodeJS.ProcessEnv
  fetch: typeof fetch
}

export function apiBase(env: NodeJS.ProcessEnv): string {
  return (env.TENURE_URL ?? `http://127.0.0.1:${env.PORT ?? 8080}`).replace(/\/+$/, '')
}

/** One API call; a non-2xx answer becomes a CliError with the status, code, message and field issues. */
export async function apiCall(deps: ApiClientDeps, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const token = deps.env.TENURE_TOKEN
  if (!token) throw new CliError('set TENURE_TOKEN to an API token (create one with `tenure tokens create --role approver --name <you>`)')
  const base = apiBase(deps.env)
  let res: Response
  try {
    res = await deps.fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
  } catch (err) {
    throw new CliError(`cannot reach Tenure at ${base} (${(err as Error).message}): is \`tenure serve\` running? Set TENURE_URL to its address.`)
  }
  const text = await res.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  if (!res.ok) {
    const error = (json as { error?: { code?: string; message?: string; details?: { issues?: { path: string; message: string }[] } } } | undefined)?.error
    const issues = error?.details?.issues?.map((i) => `\n  ${i.path}: ${i.message}`).join('') ?? ''
    throw new CliError(`${res.status} ${error?.code ?? 'error'}: ${error?.message ?? (text.slice(0, 200) || res.statusText)}${issues}`)
  }
  return json
}

/** What a CLI command group acting through the API can be given (tests pass their own). */
export interface ApiCommandDeps {
  env?: NodeJS.ProcessEnv
  fetch?: typeof fetch
  stdout?: (text: string) => void
  stderr?: (text: string) => void
  /** Default: process.exitCode = code. */
  exit?: (code: number) => void
}

/**
 * The plumbing every API-backed command group shares: its dependencies with the process's as
 * defaults, `run` (a CliError becomes one line on stderr and exit code 1) and `print` (JSON with
 * --json, else the human form).
 */
export function apiCommandKit(options: ApiCommandDeps) {
  const deps = {
    env: options.env ?? process.env,
    fetch: options.fetch ?? fetch,
    stdout: options.stdout ?? ((t: string) => void process.stdout.write(t)),
    stderr: options.stderr ?? ((t: string) => void process.stderr.write(t)),
    exit: options.exit ?? ((code: number) => void (process.exitCode = code)),
  }
  const run = (fn: () => Promise<void>) => async () => {
    try {
      await fn()
    } catch (err) {
      if (!(err instanceof CliError)) throw err
      deps.stderr(`${err.message}\n`)
      deps.exit(1)
    }
  }
  const print = (value: unknown, json: boolean | undefined, human: () => string) => deps.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : human())
  return { deps, run, print }
}
