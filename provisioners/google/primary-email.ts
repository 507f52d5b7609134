/**
 * Primary addresses for joiners: a configurable pattern filled from the HR name, folded to the
 * characters Google accepts in a username, with numbered alternatives for collisions.
 *
 * Google usernames may contain letters (a-z), numbers (0-9), dashes, underscores, apostrophes
 * and periods, may not start or end with a period or hold two in a row, and are at most 64
 * characters (https://support.google.com/a/answer/9193374). Apostrophes are legal but break
 * many downstream systems, so names lose them ("O'Brien" → "obrien").
 */
import type { EmployeeProfile } from '../types.ts'

/** Letters that Unicode normalisation does not decompose into ASCII plus a combining mark. */
const SPECIAL_FOLDS: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
  ħ: 'h',
  ŋ: 'n',
  ĳ: 'ij',
}

/** Lower-case, fold to ASCII, keep only [a-z0-9._-]; spaces and apostrophes vanish. */
export function foldName(value: string): string {
  const lower = value.trim().toLowerCase()
  let out = ''
  for (const ch of lower) out += SPECIAL_FOLDS[ch] ?? ch
  return out
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^a-z0-9._-]+/g, '')
}

/** Tidy a local part: no leading/trailing or doubled periods, at most 64 characters. */
function tidyLocalPart(local: string): string {
  return local
    .replace(/\.{2,}/g, '.')
    .replace(/^[.\-_]+|[.\-_]+$/g, '')
    .slice(0, 64)
    .replace(/[.\-_]+$/g, '')
}

/**
 * Fill the pattern for one employee. Placeholders: {first}, {last}, {firstInitial},
 * {lastInitial}, {employeeId}, {domain}. Throws when the result is not a usable address, e.g. a
 * name with no letters Google accepts.
 */
export function renderPrimaryEmail(pattern: string, employee: EmployeeProfile, domain: string): string {
  const first = foldName(employee.firstName)
  const last = foldName(employee.lastName)
  const values: Record<string, string> = {
    first,
    last,
    firstInitial: first.slice(0, 1),
    lastInitial: last.slice(0, 1),
    employeeId: foldName(employee.employeeId),
    domain: domain.toLowerCase(),
  }
  const filled = pattern.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const value = values[key]
    if (value === undefined) throw new Error(`unknown placeholder ${whole} in primaryEmailPattern`)
    return value
  })
  const at = filled.lastIndexOf('@')
  const local = tidyLocalPart(filled.slice(0, at))
  const host = filled.slice(at + 1)
  if (local === '' || host === '') throw new Error(`primaryEmailPattern gives no usable address for employee ${employee.employeeId}`)
  return `${local}@${host}`
}

/** The n-th alternative (n ≥ 2) for a taken address: `jane.doe@x` → `jane.doe2@x`. */
export function numberedAlternative(email: string, n: number): string {
  const at = email.lastIndexOf('@')
  const suffix = String(n)
  const local = email.slice(0, at).slice(0, 64 - suffix.length)
  return `${local}${suffix}${email.slice(at)}`
}

/**
 * Addresses to try in order. When HR holds a work email in the configured domain it is the only
 * candidate and it is authoritative: HR says this is the person's address, so an existing
 * account there without an employee id is theirs. Otherwise the pattern, then (strategy
 * `append_number`) its numbered alternatives; a derived address is only ever adopted when the
 * account there carries the employee's id.
 */
export function candidateEmails(
  employee: EmployeeProfile,
  options: { pattern: string; domain: string; useHrWorkEmail: boolean; strategy: 'append_number' | 'fail'; maxAttempts: number },
): { authoritative: boolean; emails: string[] } {
  const work = employee.workEmail?.trim().toLowerCase()
  if (options.useHrWorkEmail && work !== undefined && work.endsWith(`@${options.domain.toLowerCase()}`)) {
    return { authoritative: true, emails: [work] }
  }
  const base = renderPrimaryEmail(options.pattern, employee, options.domain)
  const emails = [base]
  if (options.strategy === 'append_number') {
    for (let n = 2; emails.length < options.maxAttempts; n += 1) emails.push(numberedAlternative(base, n))
  }
  return { authoritative: false, emails }
}
