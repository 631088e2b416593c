// Builds the client twice from one source: ESM (dist/esm) and CommonJS (dist/cjs), each with .d.ts.
// The nearest package.json tells Node and TypeScript which module system a .js/.d.ts file is in,
// so each output folder gets a one-line package.json naming its type.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const tsc = path.resolve(here, '../../node_modules/.bin/tsc');
rmSync(path.join(here, 'dist'), { recursive: true, force: true });
for (const [folder, module, type] of [
  ['esm', 'nodenext', 'module'],
  ['cjs', 'commonjs', 'commonjs'],
] as const) {
  const outDir = path.join(here, 'dist', folder);
  execFileSync(
    tsc,
    [
      '-p',
      path.join(here, 'tsconfig.build.json'),
      '--module',
      module,
      '--moduleResolution',
      module === 'commonjs' ? 'bundler' : 'nodenext',
      '--outDir',
      outDir,
    ],
    { stdio: 'inherit' },
  );
  writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify({ type })}\n`);
  // tsc rewrites `./x.ts` to `./x.js` in the JS it emits but not in declarations; older TypeScript
  // versions of the client's users would not find `./x.ts` next to a .d.ts.
  for (const file of readdirSync(outDir).filter((name) => name.endsWith('.d.ts'))) {
    const declaration = path.join(outDir, file);
    writeFileSync(
      declaration,
      readFileSync(declaration, 'utf8').replace(/(from\s+['"]\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1.js$2'),
    );
  }
}
