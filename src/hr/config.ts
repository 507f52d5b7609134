/**
 * The `hr` section of Tenure's config file: one optional block per HR source. The per-source
 * schema (every key described) is `hrSourceConfigSchema` in ./types.ts; docs/hr-sources.md
 * shows a block per vendor.
 */
import { hrSourcesConfigSchema } from './types.ts'

export { hrSourceConfigSchema, hrSourcesConfigSchema, type HrSourceConfig, type HrSourcesConfig } from './types.ts'

/** `hr` may be omitted (no HR source configured yet: nothing is accepted or polled). */
export const hrConfigSchema = hrSourcesConfigSchema
  .prefault({})
  .describe('HR sources keyed by name (generic, bamboohr, hibob, personio, merge, deel, gusto, rippling, workday); see docs/hr-sources.md')
