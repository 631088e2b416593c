import { readFileSync } from 'node:fs';
import { packageFile } from './package-files.ts';

/** scangate's version, from its package.json (read once, at load). */
export const SCANGATE_VERSION: string = (
  JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }
).version;
