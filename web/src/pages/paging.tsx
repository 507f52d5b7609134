/**
 * Server-side paging for the console's lists: the cursors of the pages seen so far (the API's
 * `nextCursor`), and a pager that says which rows are shown, of how many, and whether there are more.
 */
import { useState } from 'react'

export interface Pager {
  /** The cursor of the page shown; undefined for the first page. */
  cursor: string | undefined
  /** 0 for the first page. */
  index: number
  next: (cursor: string) => void
  previous: () => void
  first: () => void
}

export function usePager(): Pager {
  const [stack, setStack] = useState<string[]>([])
  return {
    cursor: stack[stack.length - 1],
    index: stack.length,
    next: (cursor) => setStack((s) => [...s, cursor]),
    previous: () => setStack((s) => s.slice(0, -1)),
    first: () => setStack([]),
  }
}

/** "Showing 51–100 of 340 cases" with Previous / Next; without a total, says whether there are more. */
export function PagerBar({
  label,
  pager,
  limit,
  shown,
  total,
  nextCursor,
}: {
  label: string
  pager: Pager
  limit: number
  shown: number
  total?: number | undefined
  nextCursor: string | null | undefined
}) {
  if (shown === 0 && pager.index === 0) return null
  const from = pager.index * limit + 1
  const to = pager.index * limit + shown
  const of = total !== undefined ? ` of ${total}` : nextCursor ? ', more on the next page' : ''
  return (
    <nav className="row wrap pager" aria-label={`${label} pages`} data-testid={`pager-${label.toLowerCase().replaceAll(' ', '-')}`}>
      <span className="muted small" aria-live="polite">
        {shown === 0 ? `Nothing on this page${of}` : `Showing ${from}–${to}${of} ${label}`}
      </span>
      {pager.index > 0 && (
        <button type="button" onClick={pager.previous}>
          Previous
        </button>
      )}
      {nextCursor && (
        <button type="button" onClick={() => pager.next(nextCursor)}>
          Next
        </button>
      )}
    </nav>
  )
}
