/**
 * The domain vocabulary of access: who a person is (EmployeeProfile), what a system grants them
 * (AccessGrant, AccessChange), and how access is taken away (RevocationPlan, its steps and phases,
 * the ResidualAccess left behind). The lifecycle machines reason in these terms, the engine and the
 * policy compute them, and every provisioner carries them out, so they live here, below all three:
 * a machine imports nothing from provisioners/ (docs/architecture.md, "What a machine may import").
 *
 * Why src/domain/ and not a new top-level domain/: the top level is fixed by the house layout
 * (config/, migrations/, state-machines/, provisioners/, src/, test/), and src/ already holds
 * every module shared across capabilities. Types and constants only: no I/O, no imports, so a
 * pure machine can depend on it without pulling anything else in.
 */

/** `google`, `entra`, `slack`, `jira`, `scim:<name>`, `manual:<name>`, `sandbox`. */
export type SystemId = string

/** HR attributes that policies and account specs read. */
export interface EmployeeProfile {
  /** The HR system's id for this person; used as the target's externalId where it has one. */
  employeeId: string
  firstName: string
  lastName: string
  displayName?: string
  /** The work email HR holds, if any; provisioners derive a primary address otherwise. */
  workEmail?: string
  personalEmail?: string
  department?: string
  title?: string
  location?: string
  employmentType?: string
  costCenter?: string
  managerId?: string
  managerEmail?: string
  /** IANA zone, e.g. `Europe/Berlin`. */
  timeZone?: string
  /** ISO 3166 alpha-2, Graph's usageLocation needs it for licences. */
  countryCode?: string
}

/** What one system should grant. Which fields a system reads depends on the system. */
export interface AccessGrant {
  account: boolean
  groups: string[]
  licences: string[]
  channels: string[]
  projects: string[]
  roles: string[]
  /** Google org unit path, Jira products, Slack user groups etc. go in here by system. */
  orgUnit?: string
  products?: string[]
  userGroups?: string[]
}

export type AccessList = 'groups' | 'licences' | 'channels' | 'projects' | 'roles' | 'products' | 'userGroups'

export type AccessChange = {
  add: Partial<Record<AccessList, string[]>>
  remove: Partial<Record<AccessList, string[]>>
  orgUnit?: string
}

/**
 * Revocation steps. `cutoff` steps end the person's ability to act (they run first, for every
 * leaver, before any clean-up step in a mass layoff); `cleanup` steps remove what remains.
 */
export type RevocationStepKind =
  | 'disable' // suspend / accountEnabled=false / SCIM active=false
  | 'revoke_sessions' // sign out of all sessions
  | 'revoke_tokens' // OAuth tokens, app passwords, backup codes
  | 'remove_groups'
  | 'remove_licences'
  | 'remove_roles'
  | 'remove_products'
  | 'remove_channels'
  | 'transfer_data'
  | 'move_org_unit'
  | 'convert_mailbox'
  | 'delete'

export const CUTOFF_STEPS: readonly RevocationStepKind[] = ['disable', 'revoke_sessions', 'revoke_tokens']

export type RevocationPhase = 'cutoff' | 'cleanup'

export interface RevocationPlan {
  phase: RevocationPhase
  /** Steps to run in this phase, in order. A provisioner skips steps it cannot do and says so. */
  steps: RevocationStepKind[]
  options: {
    /** Transfer data (Drive, mailbox) to this person (manager) where the system supports it. */
    transferTo?: { employeeId?: string; email: string }
    /** Google: move to this org unit after suspension. */
    leaversOrgUnit?: string
    /** An approved legal hold: never delete, never transfer data. Disabling still happens. */
    legalHold?: boolean
    /** An approved retain_account: disable but do not delete. */
    retainAccount?: boolean
    /** Entra: keep the mailbox (convert to shared) under an approved exception. */
    keepMailbox?: boolean
    /**
     * What Tenure itself granted in this system (last provision / update). A lower bound of what
     * to remove and check, never the answer: the target may hold more (granted by hand).
     */
    granted?: AccessGrant
  }
}

/** Access the provisioner saw but could not remove; a human decides (manual task or exception). */
export interface ResidualAccess {
  kind: string
  id: string
  reason: string
}
