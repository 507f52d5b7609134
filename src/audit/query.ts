/**
 * Reading the audit log: pages for the API and UI, and a stream for exports. Both order by seq
 * and resume after a cursor, so an export can be continued where a broken download stopped.
 */
import { Transform, type Readable } from 'node:stream'
import type pg from 'pg'
import type QueryStream from 'pg-query-stream'
import { encodeCursor } from './cursor.ts'
import { AuditError } from './errors.ts'
import type { AuditRow } from './record.ts'
import { fromDbRow, type DbAuditRow } from './rows.ts'
import { sealAudit } from './sealer.ts'
import { employeeIdsNamed, eventRows, eventsQuery, streamEventRows } from './store.ts'

export interface AuditFilters {
  /** occurred_at >= from */
  from?: Date | string
  /** occurred_at < to */
  to?: Date | string
  employeeId?: string
  /**
   * An employee as a person would name them: Tenure's id, the HR employee id (any source) or the
   * work e-mail. Matches rows about every employee it names (see matchEmployees()).
   */
  employee?: string
  system?: string
  /** An exact action, or a prefix ending in `.*` (`lifecycle.*`). */
  action?: string
  actorId?: string
  correlationId?: string
  /** From a previous page's nextCursor. */
  cursor?: string
  /** Page size (default 100, at most 1000); for streams, the most rows to return (default all). */
  limit?: number
  /** By seq; 'desc' gives newest first. Default 'asc'. */
  order?: 'asc' | 'desc'
}

export interface AuditPage {
  events: AuditRow[]
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null
}

/** The Tenure ids an `employee` filter matches (none: no such employee, say so rather than show an empty log). */
export async function matchEmployees(pool: pg.Pool, employee: string): Promise<string[]> {
  return employeeIdsNamed(pool, employee)
}

export const DEFAULT_PAGE_SIZE = 100
export const MAX_PAGE_SIZE = 1000

function pageSize(limit: number | undefined): number {
  const size = limit ?? DEFAULT_PAGE_SIZE
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new AuditError('invalid_filter', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`, { status: 400, details: { limit } })
  }
  return size
}

export async function queryAudit(pool: pg.Pool, filters: AuditFilters = {}): Promise<AuditPage> {
  const limit = pageSize(filters.limit)
  // Every entry committed before the request is in the chain before it is read (src/audit/sealer.ts).
  await sealAudit(pool)
  // One row more than the page tells whether another page exists without a count(*).
  const rows = await eventRows(pool, eventsQuery(filters, limit + 1))
  const events = rows.slice(0, limit).map(fromDbRow)
  const last = events.at(-1)
  return { events, nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null }
}

/**
 * Rows matching `filters` as an object-mode Readable of AuditRow, read through a server-side
 * cursor: memory stays flat for any size. The pool client is released when the stream ends,
 * fails or is destroyed (a client that disconnects mid-download).
 */
export function streamAudit(pool: pg.Pool, filters: AuditFilters = {}): Readable {
  if (filters.limit !== undefined && (!Number.isInteger(filters.limit) || filters.limit < 1)) {
    throw new AuditError('invalid_filter', 'limit must be a positive integer', { status: 400, details: { limit: filters.limit } })
  }
  const query = eventsQuery(filters, filters.limit)
  const rows = new Transform({
    objectMode: true,
    transform(row: DbAuditRow, _encoding, callback) {
      try {
        callback(null, fromDbRow(row))
      } catch (err) {
        callback(err as Error)
      }
    },
  })
  let client: pg.PoolClient | undefined
  let source: QueryStream | undefined
  let released = false
  const release = (err?: Error) => {
    if (released || !client) return
    released = true
    // A client whose cursor failed mid-way is discarded rather than returned to the pool.
    client.release(err)
  }
  rows.on('close', () => {
    // The consumer went away mid-stream: close the cursor first, then hand the client back.
    if (source && !source.destroyed) {
      source.once('close', () => release())
      source.destroy()
    } else {
      release()
    }
  })
  // Every entry committed before the export started is sealed before its rows are read.
  sealAudit(pool)
    .then(() => pool.connect())
    .then((c) => {
      client = c
      if (rows.destroyed) return release()
      source = streamEventRows(c, query)
      source.on('error', (err: Error) => {
        release(err)
        rows.destroy(err)
      })
      source.on('end', () => release())
      source.pipe(rows)
    })
    .catch((err: Error) => rows.destroy(err))
  return rows
}
