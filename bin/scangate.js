#!/usr/bin/env node
// Runs the compiled build (dist/, `npm run build`) when it matches the sources, else the TypeScript
// sources directly (Node 24 strips the types): a stale build never runs in place of edited code.
import { buildState } from './build-state.js';

if (buildState() === 'fresh') await import('../dist/src/cli/main.js');
else await import('../src/cli/main.ts');
