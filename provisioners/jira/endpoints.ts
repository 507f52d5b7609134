/**
 * The jira.js endpoint functions Tenure calls, loaded from the three endpoint modules that define
 * them (users, groups, user search) instead of through the `jira.js/cloud` entry point.
 *
 * Why: `jira.js/cloud` re-exports every endpoint and every model of the platform REST API, about
 * 1,100 ES modules, each model a zod schema built at import. That entry point costs ~72 MB of RSS,
 * ~16 MB of heap and ~2.6 s of start-up; these three modules (with the ~50 models they import) cost
 * ~2 MB of RSS, ~0.6 MB of heap and ~70 ms (Node 24, after a forced GC, marginal over zod and
 * `jira.js/core`, which Tenure loads anyway). Importing src/main.ts went from 178 MB RSS / 48 MB
 * heap to 110 MB / 33 MB with this module.
 *
 * jira.js's package.json "exports" lists only its entry points (`.`, `./core`, `./cloud`, `./agile`,
 * `./serviceDesk`), so `jira.js/dist/cloud/api/users.js` is refused as a bare specifier
 * (ERR_PACKAGE_PATH_NOT_EXPORTED), and a relative path into node_modules would break as soon as the
 * package is hoisted elsewhere. So the modules are located next to wherever `jira.js/cloud` itself
 * resolves (`import.meta.resolve` resolves without loading). They are the very files that
 * `jira.js/cloud` re-exports (dist/cloud/api/index.js: `export * from './users.js'`, ...), so these
 * are the same function objects with the same response schemas, not copies; endpoints.test.ts checks
 * that identity, so a jira.js upgrade that moves a function fails the tests rather than production.
 *
 * Loaded eagerly (top-level await), not on the first call: the cost belongs to start-up, and a
 * layout change must stop the process at start rather than fail a leaver's revocation later.
 */
import type * as JiraCloud from 'jira.js/cloud'

type UsersModule = Pick<typeof JiraCloud, 'createUser' | 'getAllUsers' | 'getUser' | 'getUserGroups' | 'removeUser'>
type GroupsModule = Pick<typeof JiraCloud, 'addUserToGroup' | 'removeUserFromGroup'>
type UserSearchModule = Pick<typeof JiraCloud, 'findUsers'>

/** Where the modules are, relative to the `jira.js/cloud` entry (dist/cloud/index.js), and what each must define. */
export const JIRA_ENDPOINT_MODULES = {
  users: { path: './api/users.js', functions: ['createUser', 'getAllUsers', 'getUser', 'getUserGroups', 'removeUser'] },
  groups: { path: './api/groups.js', functions: ['addUserToGroup', 'removeUserFromGroup'] },
  userSearch: { path: './api/userSearch.js', functions: ['findUsers'] },
} as const

const cloudEntry = import.meta.resolve('jira.js/cloud')

async function load(module: keyof typeof JIRA_ENDPOINT_MODULES): Promise<Record<string, unknown>> {
  const { path, functions } = JIRA_ENDPOINT_MODULES[module]
  const url = new URL(path, cloudEntry).href
  let loaded: Record<string, unknown>
  try {
    loaded = (await import(url)) as Record<string, unknown>
  } catch (err) {
    throw new Error(`jira.js: cannot load its ${module} endpoint module (${url}); provisioners/jira/endpoints.ts expects the jira.js 6.2 dist layout`, { cause: err })
  }
  const missing = functions.filter((name) => typeof loaded[name] !== 'function')
  if (missing.length > 0) {
    throw new Error(`jira.js: ${url} no longer defines ${missing.join(', ')}; provisioners/jira/endpoints.ts expects the jira.js 6.2 dist layout`)
  }
  return loaded
}

const [users, groups, userSearch] = await Promise.all([load('users'), load('groups'), load('userSearch')])

// The casts are checked above: each name is a function of that module, and the module is the one
// `jira.js/cloud` re-exports under the same name, whose declared type these are.
export const { createUser, getAllUsers, getUser, getUserGroups, removeUser } = users as unknown as UsersModule
export const { addUserToGroup, removeUserFromGroup } = groups as unknown as GroupsModule
export const { findUsers } = userSearch as unknown as UserSearchModule
