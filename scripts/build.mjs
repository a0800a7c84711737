#!/usr/bin/env node
// Bundles each program into one file under dist/ (DESIGN.md "Programs and where they go").
// The bundles need nothing but Node >= 18.19: the packages carry no node_modules.
import { build } from 'esbuild';
import { chmod, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const shebang = process.env.BEXT_SHEBANG ?? '#!/usr/bin/env node';
// BEXT_DIST puts the bundles elsewhere (a benchmark of a work in progress must not race dist/).
const dist = path.resolve(root, process.env.BEXT_DIST ?? 'dist');

export const programs = [
  { entry: 'src/server/main.ts', out: 'dist/bext-server.js' },
  { entry: 'src/shim/main.ts', out: 'dist/nginx-shim.js' },
  { entry: 'src/cli/main.ts', out: 'dist/bext.js' },
];

await mkdir(dist, { recursive: true });
for (const p of programs) {
  await build({
    absWorkingDir: root,
    entryPoints: [p.entry],
    outfile: path.join(dist, path.basename(p.out)),
    bundle: true,
    platform: 'node',
    target: 'node18.19',
    format: 'esm',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // CommonJS dependencies inside an ESM bundle still call require(); give them one.
    banner: {
      js: `${shebang}\nimport { createRequire as __bextCreateRequire } from 'node:module';\nconst require = __bextCreateRequire(import.meta.url);`,
    },
  });
  await chmod(path.join(dist, path.basename(p.out)), 0o755);
}
console.log(`built ${programs.map((p) => path.relative(root, path.join(dist, path.basename(p.out)))).join(', ')}`);
