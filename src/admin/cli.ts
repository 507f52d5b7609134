/**
 * `tenure reconcile hr --source S` and `tenure reconcile targets --system Y`: run a reconciliation
 * now, through the HTTP API of a running server (TENURE_URL, an admin's API token in TENURE_TOKEN),
 * like `tenure jobs retry`: the server checks the role, queues one run however often it is asked,
 * and audits the request as the token's holder.
 */
import type { Command } from 'commander'
import { apiCall as call, apiCommandKit, type ApiCommandDeps } from '../commands/api-client.ts'

interface RunNowAnswer {
  jobId: string
  status: 'queued' | 'already_queued'
  state: string
}

const said = (what: string, out: RunNowAnswer) =>
  out.status === 'queued' ? `${what}: queued as job ${out.jobId}\n` : `${what}: already queued or running as job ${out.jobId} (${out.state}); not queued again\n`

export function registerReconcileCommands(program: Command, options: ApiCommandDeps = {}): Command {
  const { deps, run, print } = apiCommandKit(options)
  const reconcile = program.command('reconcile').description('run a reconciliation now (admins), through the API of a running server')

  reconcile
    .command('hr')
    .description("read one HR source's roster now and apply what no webhook delivered")
    .requiredOption('--source <source>', 'the HR source, e.g. hibob')
    .option('--json', 'print JSON')
    .action((o: { source: string; json?: boolean }) =>
      run(async () => {
        const out = (await call(deps, 'POST', `/api/v1/admin/sources/${encodeURIComponent(o.source)}/reconcile`)) as RunNowAnswer
        print(out, o.json, () => said(`HR reconciliation of ${o.source}`, out))
      })(),
    )

  reconcile
    .command('targets')
    .description("list one target system's accounts now and record drift as findings")
    .requiredOption('--system <system>', 'the target system, e.g. google or scim:acme')
    .option('--json', 'print JSON')
    .action((o: { system: string; json?: boolean }) =>
      run(async () => {
        const out = (await call(deps, 'POST', `/api/v1/admin/systems/${encodeURIComponent(o.system)}/reconcile`)) as RunNowAnswer
        print(out, o.json, () => said(`target reconciliation of ${o.system}`, out))
      })(),
    )
  return reconcile
}
