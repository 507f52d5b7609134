/**
 * Where Tenure's files are, whether it runs from its TypeScript sources (src/paths.ts) or compiled
 * (dist/src/paths.js, `npm run build`): migrations, config, the console build and package.json are
 * read from the project root in both cases, never from dist/.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const above = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The project root: the folder holding package.json, migrations/ and config/. */
export const ROOT = path.basename(above) === 'dist' && existsSync(path.join(above, '..', 'migrations')) ? path.dirname(above) : above

/** True when this process runs the compiled JavaScript in dist/. */
export const COMPILED = ROOT !== above

/** A path inside the project root. */
export const rootPath = (...parts: string[]): string => path.join(ROOT, ...parts)
