export {
  DEFAULT_SLA_MINUTES,
  MATCH_KEYS,
  grantSchema,
  leaverOptionsSchema,
  matchSchema,
  policySchema,
  ruleSchema,
  systemPolicySchema,
  type MatchKey,
  type Policy,
  type PolicyGrant,
  type PolicyInput,
  type PolicyMatch,
  type PolicyRule,
} from './schema.ts'
export {
  PolicyError,
  evaluatePolicy,
  matchesValue,
  ruleMatches,
  validatePolicy,
  type PolicyEvaluation,
  type PolicyIssue,
} from './evaluate.ts'
export { diffAccess, isEmptyChange, mergeGrants, type AccessDiff } from '../../state-machines/access.ts'
