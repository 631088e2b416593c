import { readFileSync } from 'node:fs';

/** scangate's version, from its package.json (read once, at load). */
export const SCANGATE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
