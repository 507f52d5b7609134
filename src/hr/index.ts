/**
 * Public surface of the HR intake library (no express, no database). See src/hr/types.ts for
 * the flow and docs/hr-sources.md / docs/hr-events.md for users.
 */
export { adapters, adapterFor } from './adapters.ts'
export { hrConfigSchema } from './config.ts'
export {
  hrSourceConfigSchema,
  hrSourcesConfigSchema,
  hrCredentialsSchema,
  hrApiConfigSchema,
  type ClientOptions,
  type EmploymentStatus,
  type FromRecordContext,
  type HrApiClient,
  type HrCredentials,
  type HrEmployeeRecord,
  type HrNotice,
  type HrSourceAdapter,
  type HrSourceConfig,
  type HrSourceConfigInput,
  type HrSourcesConfig,
  type ListRosterOptions,
  type NormalizeContext,
  type Parsed,
  type RawDelivery,
  type SampleDelivery,
  type Verification,
  type VerificationFailureReason,
} from './types.ts'
export { deterministicUuid } from './crypto.ts'
export { isTerminated } from './derive.ts'
export { HrEmployeeNotFoundError } from './adapter-kit.ts'
export { clampFutureTimestamps, isFutureTimestamp, type ClampedTimestamp } from './timestamps.ts'
export { gustoVerificationToken } from './sources/gusto.ts'
export { signStandardWebhook, genericPayloadSchema, type GenericPayload } from './sources/generic.ts'
