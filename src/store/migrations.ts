import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageFile } from '../package-files.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The numbered schema files of one dialect (`store/<dialect>/migrations/NNN_name.sql`), in order. A migration is
 * never edited once released: a change is a new file, so every database can be brought forward.
 */
export function loadMigrations(dialect: 'sqlite' | 'postgres'): Migration[] {
  const directory = packageFile(`src/store/${dialect}/migrations`);
  const migrations: Migration[] = [];
  for (const file of readdirSync(directory)) {
    const match = /^(\d+)_([\w-]+)\.sql$/.exec(file);
    if (!match) continue;
    migrations.push({
      version: Number(match[1]),
      name: match[2]!,
      sql: readFileSync(path.join(directory, file), 'utf8'),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  // Two branches may each add "the next" number; a database tracks only the highest applied, so a
  // duplicate would silently skip one of them.
  for (let index = 1; index < migrations.length; index++) {
    if (migrations[index]!.version === migrations[index - 1]!.version) {
      throw new Error(`two ${dialect} migrations are numbered ${migrations[index]!.version}`);
    }
  }
  return migrations;
}
