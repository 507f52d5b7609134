/** The `offboarding` configuration section: emergency off-boarding (cut someone off now, before HR). */
import { z } from 'zod'
import { ROLES } from '../auth/roles.ts'

export const emergencyOffboardingSchema = z
  .object({
    requestRoles: z
      .array(z.enum(ROLES))
      .min(1)
      .default(['admin'])
      .describe(
        'Roles that may cut someone off now (`POST /api/v1/employees/:id/terminate`, `tenure employees terminate`). The API admits admin, approver and operator to the route; this list narrows it (others get 403 forbidden). Default: admin only.',
      ),
    requireSecondApprover: z
      .boolean()
      .default(false)
      .describe('Four-eyes: an emergency termination waits as a pending request until a different person with an approver role (approverRoles) approves it. Off: it applies at once.'),
    approverRoles: z
      .array(z.enum(ROLES))
      .min(1)
      .default(['admin'])
      .describe('Roles that may approve or reject a pending emergency termination (never the requester). Default: admin only.'),
    requestExpiry: z
      .number()
      .int()
      .min(1)
      .max(10_080)
      .default(60)
      .describe('Minutes a pending emergency termination waits for its second approver; after that it expires and nothing is cut (request again).'),
    discrepancyOwnerGroup: z
      .string()
      .min(1)
      .max(200)
      .default('it-security')
      .describe("Owner group of the task raised when HR still shows someone employed after an emergency termination (access stays cut until a person decides)."),
  })
  .strict()

export const offboardingConfigSchema = z
  .object({
    emergency: emergencyOffboardingSchema.prefault({}).describe('Emergency off-boarding: cut a person off now, without waiting for HR (docs/api.md, docs/cli.md).'),
  })
  .strict()
  .prefault({})

export type OffboardingConfig = z.output<typeof offboardingConfigSchema>
export type EmergencyConfig = OffboardingConfig['emergency']
