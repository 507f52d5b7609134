/**
 * The audit trail: append-only, hash-chained, written in the same transaction as every change,
 * signed at intervals, verifiable by anyone with the public key. docs/audit.md explains the model.
 */
export { appendAudit, markWroteAudit, pendingColumns, prepareAudit, queuePending, recordAudit, type AuditEntryInput, type PreparedAuditEntry } from './writer.ts'
export { attachAuditSealer, sealAudit, sealerOf, sealPending, AuditSealer, SEAL_BACKSTOP_MS } from './sealer.ts'
export { redactDetails, isSensitiveKey, REDACTED } from './redact.ts'
export {
  ACTOR_TYPES,
  AUDIT_ACTIONS,
  GENESIS_HASH,
  canonicalRecord,
  computeHash,
  type ActorType,
  type AuditAction,
  type AuditRecord,
  type AuditRow,
  type KnownAuditAction,
} from './record.ts'
export { auditConfigSchema, checkpointCron, headCheckpointCron, RETENTION_CRON, type AuditConfig, type AuditConfigInput } from './config.ts'
export { generateSigningKey, loadPrivateKey, loadPublicKey, keyId, type GeneratedSigningKey, type PublicKeyInput } from './keys.ts'
export {
  CHECKPOINT_TYPE,
  signedCheckpointSchema,
  type CheckpointPayload,
  type SignedCheckpoint,
} from './checkpoint-format.ts'
export {
  auditPublicKey,
  checkpointIfHeadMoved,
  createCheckpoint,
  listCheckpoints,
  type CheckpointOptions,
  type CheckpointPage,
  type CreatedCheckpoint,
  type PublishOutcome,
} from './checkpoints.ts'
export { verifyAudit, verifyExport, type VerifyAuditOptions, type VerifyExportOptions } from './verify.ts'
export type { FailureReason, TamperReason, VerifyFailure, VerifyOk, VerifyResult } from './chain.ts'
export { queryAudit, streamAudit, type AuditFilters, type AuditPage } from './query.ts'
export { pruneAudit, type PruneResult } from './retention.ts'
export { auditCheckpointWorker, auditRetentionWorker, scheduleAuditJobs, type AuditJobDeps } from './jobs.ts'
export { effectiveAuditConfig, LOCAL_KEY_WARNING, type EffectiveAuditConfig } from './local-key.ts'
export { AuditError } from './errors.ts'
