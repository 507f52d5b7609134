/** The `reports` configuration section: how long generated report files are kept for download again. */
import { z } from 'zod'

export const reportsConfigSchema = z
  .object({
    keepDays: z
      .number()
      .int()
      .min(0)
      .max(3660)
      .default(400)
      .describe(
        'Days a generated report file is kept in the database so it can be downloaded again, byte for byte, from the report history (GET /api/v1/reports/exports/:id/file). ' +
          'After that a daily sweep removes the bytes (the signed manifest and the history row stay for good; the download answers 410 report_file_pruned). ' +
          '0 keeps no files. The default covers a fiscal year and its audit; reports hold personal data, so keep no longer than your retention policy allows.',
      ),
  })
  .strict()
  .prefault({})

export type ReportsConfig = z.output<typeof reportsConfigSchema>
