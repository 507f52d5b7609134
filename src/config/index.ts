/**
 * The whole configuration: the foundation sections plus one section per capability.
 * Unknown keys are errors (a typo must not silently disable a system).
 */
import { z } from 'zod'
import { baseConfigShape } from './schema.ts'

export const configSchema = z
  .object({
    ...baseConfigShape,
    sandbox: z
      .object({
        enabled: z.boolean().default(false).describe('Start the local emulators and point every system at them (`npm start`).'),
      })
      .strict()
      .prefault({})
      .describe('The out-of-the-box sandbox.'),
  })
  .strict()

export type Config = z.output<typeof configSchema>
export type ConfigInput = z.input<typeof configSchema>
