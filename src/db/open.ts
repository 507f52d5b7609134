/** Which PostgreSQL to use: DATABASE_URL when configured, else the data folder's embedded one. */
import type { Config } from '../config/index.ts'
import type { Logger } from '../log.ts'
import { startEmbedded, type EmbeddedDatabase } from './embedded.ts'

export interface Database {
  url: string
  embedded?: EmbeddedDatabase
}

export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (config.database.url) return { url: config.database.url }
  const embedded = await startEmbedded({ dataDir: config.database.dataDir, log })
  return { url: embedded.url, embedded }
}

