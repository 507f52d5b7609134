/**
 * The registry the HTTP route, the jobs and the reconciliation cron use: one adapter per HR
 * source, keyed by the source name in the URL and the config file.
 */
import type { HrSource, HrSourceAdapter } from './types.ts'
import { bamboohr } from './sources/bamboohr.ts'
import { deel } from './sources/deel.ts'
import { generic } from './sources/generic.ts'
import { gusto } from './sources/gusto.ts'
import { hibob } from './sources/hibob.ts'
import { merge } from './sources/merge.ts'
import { personio } from './sources/personio.ts'
import { rippling } from './sources/rippling.ts'
import { workday } from './sources/workday.ts'

export const adapters: Record<HrSource, HrSourceAdapter> = {
  generic,
  bamboohr,
  hibob,
  personio,
  merge,
  deel,
  gusto,
  rippling,
  workday,
}

export function adapterFor(source: HrSource): HrSourceAdapter {
  return adapters[source]
}
