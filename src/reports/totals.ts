/**
 * Totals of an access-revocation report, accumulated row by row as the rows stream past. The
 * only thing kept per row is one number (minutes to revoke) for the exact median and p95: 8 bytes
 * a revocation, a few hundred kilobytes for a year of a large company.
 */
import { OUTCOMES, type Outcome, type PopulationStatus, type ReportRow } from './rows.ts'

export interface ReportTotals {
  /** Distinct leavers: cases in the period, plus terminations with no case (gaps). */
  leavers: number
  /** Rows: one per leaver per system (and one per gap). */
  rows: number
  /**
   * Distinct systems named by the rows. Not the number of rows that name a system: two leavers
   * with the same 7 systems are 14 rows but 7 systems (the console and the HTML summary showed
   * "Systems 14" where 7 exist). `rows` counts leaver × system.
   */
  systems: number
  outcomes: Record<Outcome, number>
  /** Minutes from the effective termination to the verified revocation, over verified rows. */
  minutesToRevoke: { count: number; median: number | null; p95: number | null; max: number | null }
}

export interface PopulationTotals {
  /** Every employee.terminated event whose effective moment is in the period. */
  terminations: number
  /** Opened or updated a case whose rows are in this report. */
  inReport: number
  /** A repeat notice of a termination whose case is in this report. */
  duplicate: number
  /** Accounted for by a case whose (later) effective moment falls in another period. */
  superseded: number
  /** No case at all: listed as gap rows. */
  gap: number
}

/** Nearest-rank percentile (the value at rank ceil(p × n)), so it is always a value that occurred. */
export function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.max(1, Math.ceil(p * sorted.length))
  return sorted[rank - 1]!
}

export class TotalsAccumulator {
  #rows = 0
  /** Bounded by the number of configured systems, not by the rows. */
  #systems = new Set<string>()
  #leavers = 0
  #lastLeaver: string | null = null
  #outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>
  #minutes = new Float64Array(1024)
  #count = 0

  add(row: ReportRow): void {
    this.#rows += 1
    if (row.system !== null) this.#systems.add(row.system)
    this.#outcomes[row.outcome] += 1
    // Rows arrive grouped by case (and gap terminations one row each), so a change of key is a new leaver.
    const leaver = row.caseId ?? `hr:${row.hrEvent.id ?? row.employee.hrId}`
    if (leaver !== this.#lastLeaver) {
      this.#leavers += 1
      this.#lastLeaver = leaver
    }
    if (row.minutesToRevoke !== null) {
      if (this.#count === this.#minutes.length) {
        const bigger = new Float64Array(this.#minutes.length * 2)
        bigger.set(this.#minutes)
        this.#minutes = bigger
      }
      this.#minutes[this.#count++] = row.minutesToRevoke
    }
  }

  result(): ReportTotals {
    const sorted = this.#minutes.slice(0, this.#count).sort()
    return {
      leavers: this.#leavers,
      rows: this.#rows,
      systems: this.#systems.size,
      outcomes: { ...this.#outcomes },
      minutesToRevoke: {
        count: this.#count,
        median: percentile(sorted, 0.5),
        p95: percentile(sorted, 0.95),
        max: this.#count > 0 ? sorted[this.#count - 1]! : null,
      },
    }
  }
}

export class PopulationAccumulator {
  #totals: PopulationTotals = { terminations: 0, inReport: 0, duplicate: 0, superseded: 0, gap: 0 }

  add(status: PopulationStatus): void {
    this.#totals.terminations += 1
    if (status === 'in_report') this.#totals.inReport += 1
    else this.#totals[status] += 1
  }

  result(): PopulationTotals {
    return { ...this.#totals }
  }
}
