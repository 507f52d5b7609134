/**
 * People, not ids: the display name of an actor as the audit trail records it (`type` + `id`).
 * API tokens by their name (api_tokens keeps every token, revoked ones too), SSO users by the
 * name or e-mail of their latest sign-in (sso_users, written by the authenticator), HR sources and Tenure's own
 * processes by a label. Every response that names an actor keeps the id and adds the name; a
 * name that cannot be found is null (the console then shows the id), never a guess.
 */
import type { Queryable } from '../db/pool.ts'
import { ssoNames, tokenNames } from '../db/actor-names.ts'

export interface ActorRef {
  type: string
  id: string
}

export const actorKey = (a: ActorRef): string => `${a.type}:${a.id}`

const ACTOR_TYPES = ['api_token', 'oidc', 'hr_source', 'system'] as const
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * "api_token:<uuid>", "oidc:<sub>", "system:cli:alice" → { type, id } (the id may hold colons);
 * a bare id (what older rows and some columns keep) → null type, looked up as a token or a sub.
 */
export function parseActor(label: string): ActorRef {
  const i = label.indexOf(':')
  const type = i > 0 ? label.slice(0, i) : ''
  if ((ACTOR_TYPES as readonly string[]).includes(type)) return { type, id: label.slice(i + 1) }
  return { type: '', id: label }
}

/** Tenure's own processes and HR sources: a label, not a person. */
function labelOf(a: ActorRef): string | null {
  if (a.type === 'hr_source') return `HR: ${a.id}`
  if (a.type !== 'system') return null
  if (a.id === 'tenure' || a.id === 'engine') return 'Tenure'
  if (a.id === 'sandbox') return 'Sandbox'
  if (a.id.startsWith('cli:')) return `CLI (${a.id.slice(4)})`
  if (a.id.startsWith('reconcile:')) return `Reconciliation (${a.id.slice(10)})`
  return `Tenure (${a.id})`
}

/**
 * Names for the given actors, keyed by actorKey (a bare id, type '', is keyed by the id alone
 * and matched against tokens and SSO users both). Two queries at most, whatever the count.
 */
export async function actorNames(db: Queryable, actors: Iterable<ActorRef>): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>()
  const tokenIds = new Set<string>()
  const subs = new Set<string>()
  const all: ActorRef[] = []
  for (const a of actors) {
    const key = a.type ? actorKey(a) : a.id
    if (out.has(key)) continue
    out.set(key, labelOf(a))
    all.push(a)
    if ((a.type === 'api_token' || a.type === '') && UUID.test(a.id)) tokenIds.add(a.id)
    if (a.type === 'oidc' || a.type === '') subs.add(a.id)
  }
  const [tokens, people] = await Promise.all([tokenNames(db, [...tokenIds]), ssoNames(db, [...subs])])
  for (const a of all) {
    const key = a.type ? actorKey(a) : a.id
    if (a.type === 'api_token') out.set(key, tokens.get(a.id.toLowerCase()) ?? null)
    else if (a.type === 'oidc') out.set(key, people.get(a.id) ?? null)
    else if (a.type === '') out.set(key, tokens.get(a.id.toLowerCase()) ?? people.get(a.id) ?? null)
  }
  return out
}

/** One actor's name (see actorNames). */
export async function actorName(db: Queryable, actor: ActorRef): Promise<string | null> {
  return (await actorNames(db, [actor])).get(actor.type ? actorKey(actor) : actor.id) ?? null
}

/** Name lookup for labels such as "api_token:<uuid>" or a bare id, as several columns store them. */
export async function labelNames(db: Queryable, labels: Iterable<string | null | undefined>): Promise<(label: string | null | undefined) => string | null> {
  const refs = new Map<string, ActorRef>()
  for (const l of labels) if (l) refs.set(l, parseActor(l))
  const names = await actorNames(db, refs.values())
  return (label) => {
    if (!label) return null
    const a = refs.get(label) ?? parseActor(label)
    return names.get(a.type ? actorKey(a) : a.id) ?? null
  }
}
