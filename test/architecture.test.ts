/**
 * Where SQL may live (docs/architecture.md, "Where SQL lives"): in a repository module
 * (src/db/*.ts, or the one store.ts of a capability folder) and, for pg-boss's own tables, in
 * src/jobs/inspect.ts. Handlers, workers, the engine and provisioners call those and hold no SQL.
 *
 * This test parses every other .ts file under src/ and provisioners/ (tests and their
 * test-support.ts set-up excluded) and fails,
 * naming the file and line, on a string or template literal that reads as SQL: one passed to
 * `.query(` (whatever its text), or one anywhere else that reads as a statement (a statement kept
 * in a constant and passed on later is still SQL outside a repository).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import ts from 'typescript'

const ROOT = path.resolve(import.meta.dirname, '..')
const SCANNED = ['src', 'provisioners']

/** The modules that may hold SQL. */
function isRepository(rel: string): boolean {
  return rel.startsWith('src/db/') || path.basename(rel) === 'store.ts' || rel === 'src/jobs/inspect.ts'
}

/** A statement's opening words: a SQL keyword in capitals followed by what such a statement needs. */
const STATEMENT =
  /\b(SELECT\b[\s\S]*\bFROM\b|SELECT\s+(1|pg_|count|now|set_config|\$)|INSERT\s+INTO\b|UPDATE\s+[\w.${}]+\s+SET\b|DELETE\s+FROM\b|WITH\s+\w+\s+AS\s*\(|LOCK\s+TABLE\b|^\s*(BEGIN|COMMIT|ROLLBACK)\b)/
/** Anything that reads as SQL at all, for literals passed straight to `.query(`. */
const SQL_WORD = /\b(SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|SET|LOCK|WITH|TRUNCATE|LISTEN|NOTIFY)\b/

async function sources(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'migrations') out.push(...(await sources(rel)))
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('test-support.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(rel)
    }
  }
  return out
}

function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text
  if (ts.isTemplateExpression(node)) return [node.head.text, ...node.templateSpans.map((s) => `\${} ${s.literal.text}`)].join('')
  return undefined
}

/** `file:line: text` for each literal in the file that reads as SQL. */
export function sqlOutsideRepositories(rel: string, text: string): string[] {
  const file = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const found: string[] = []
  const report = (node: ts.Node, sql: string) => {
    const { line } = file.getLineAndCharacterOfPosition(node.getStart(file))
    found.push(`${rel}:${line + 1}: ${sql.replace(/\s+/g, ' ').trim().slice(0, 80)}`)
  }
  const visit = (node: ts.Node, inQuery: boolean): void => {
    const sql = literalText(node)
    if (sql !== undefined && (inQuery ? SQL_WORD.test(sql) : STATEMENT.test(sql))) {
      report(node, sql)
      return
    }
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'query' && node.arguments[0]) {
      visit(node.arguments[0], true)
      node.arguments.slice(1).forEach((a) => visit(a, false))
      visit(node.expression, false)
      return
    }
    ts.forEachChild(node, (child) => visit(child, inQuery && !ts.isFunctionLike(child)))
  }
  visit(file, false)
  return found
}

test('when a file outside the repositories holds SQL, then this test names it (SQL lives in src/db/, a capability store.ts, or src/jobs/inspect.ts)', async () => {
  const files = (await Promise.all(SCANNED.map(sources))).flat().sort()
  assert.ok(files.length > 100, `scanned only ${files.length} files: is the layout still src/ and provisioners/?`)
  const found: string[] = []
  for (const rel of files) {
    if (isRepository(rel)) continue
    found.push(...sqlOutsideRepositories(rel, await readFile(path.join(ROOT, rel), 'utf8')))
  }
  assert.deepEqual(found, [], `SQL outside a repository module:\n${found.join('\n')}`)
})

test('when SQL is passed to .query( or kept in a constant, then the scanner sees it; prose in capitals does not trip it', () => {
  assert.equal(sqlOutsideRepositories('a.ts', "await pool.query('SELECT 1')").length, 1)
  assert.equal(sqlOutsideRepositories('a.ts', 'await c.query(`UPDATE ${s}.job SET state = $1`, [x])').length, 1)
  assert.equal(sqlOutsideRepositories('a.ts', "await client.query('BEGIN')").length, 1)
  assert.equal(sqlOutsideRepositories('a.ts', 'const Q = `SELECT t.* FROM manual_tasks t`').length, 1)
  assert.equal(sqlOutsideRepositories('a.ts', "export const f = () => 'INSERT INTO x (a) VALUES ($1)'").length, 1)
  assert.equal(sqlOutsideRepositories('a.ts', "const s = 'Select the system, then UPDATE the page'").length, 0)
  assert.equal(sqlOutsideRepositories('a.ts', 'await repo.query(db, { status: "open" })').length, 0)
})

/**
 * What a machine may import (docs/architecture.md): the machines are pure, so a file under
 * state-machines/ imports other machine files, src/domain/ (the shared vocabulary of access) and
 * libraries; never provisioners/ (the vendors' side), and outside tests nothing else of src/.
 */
const MACHINES = 'state-machines'

/** Every relative module specifier of a file (static imports, re-exports, `import()`), resolved from the repository root. */
export function importedPaths(rel: string, text: string): Array<{ line: number; target: string }> {
  const file = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const out: Array<{ line: number; target: string }> = []
  const add = (node: ts.Node, spec: ts.Expression | undefined) => {
    if (!spec || !ts.isStringLiteralLike(spec) || !spec.text.startsWith('.')) return
    out.push({ line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1, target: path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec.text)) })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node, node.moduleSpecifier)
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0])
    ts.forEachChild(node, visit)
  }
  visit(file)
  return out
}

/** `file:line: target` for each import a machine file may not make. */
export function forbiddenMachineImports(rel: string, text: string): string[] {
  const isTest = rel.endsWith('.test.ts') || rel.endsWith('test-support.ts')
  return importedPaths(rel, text)
    .filter(({ target }) => target.startsWith('provisioners/') || (!isTest && target.startsWith('src/') && !target.startsWith('src/domain/')))
    .map(({ line, target }) => `${rel}:${line}: ${target}`)
}

async function allTs(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await allTs(rel)))
    else if (entry.name.endsWith('.ts')) out.push(rel)
  }
  return out
}

test('when a file under state-machines/ imports from provisioners/ (or, outside tests, from src/ other than src/domain/), then this test names it', async () => {
  const files = await allTs(MACHINES)
  assert.ok(files.length > 10, `scanned only ${files.length} files: is state-machines/ still there?`)
  const found: string[] = []
  for (const rel of files) found.push(...forbiddenMachineImports(rel, await readFile(path.join(ROOT, rel), 'utf8')))
  assert.deepEqual(found, [], `a machine imports what it may not:\n${found.join('\n')}`)
})

test('when a machine file imports provisioners/ statically, by re-export or by import(), then the scanner sees it; src/domain/ and sibling files pass', () => {
  const m = 'state-machines/lifecycle/x.ts'
  assert.equal(forbiddenMachineImports(m, "import type { AccessGrant } from '../../provisioners/types.ts'").length, 1)
  assert.equal(forbiddenMachineImports(m, "export { CUTOFF_STEPS } from '../../provisioners/types.ts'").length, 1)
  assert.equal(forbiddenMachineImports(m, "const r = await import('../../provisioners/registry.ts')").length, 1)
  assert.equal(forbiddenMachineImports(m, "import { appendAudit } from '../../src/audit/index.ts'").length, 1)
  assert.equal(forbiddenMachineImports(m, "import type { AccessGrant } from '../../src/domain/access.ts'\nimport { x } from './context.ts'\nimport { setup } from 'xstate'").length, 0)
  assert.equal(forbiddenMachineImports('state-machines/a.test.ts', "import { caseView } from '../src/lifecycle/case-view.ts'").length, 0)
  assert.equal(forbiddenMachineImports('state-machines/a.test.ts', "import { x } from '../provisioners/types.ts'").length, 1)
})
