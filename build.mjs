// Builds dist/: the CommonJS bundle (the one implementation), an ESM entry that re-exports it (so `import` and
// `require` share one module instance and one registry of open stores), the format module for tools, the CLI,
// and .d.ts files from tsc.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', packages: 'external', sourcemap: true, logLevel: 'warning' };
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.cjs' });
await build({ ...common, entryPoints: ['src/format/index.ts'], outfile: 'dist/format.cjs' });
await build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.cjs', banner: { js: '#!/usr/bin/env node' } });
chmodSync('dist/cli.cjs', 0o755);
writeFileSync('dist/index.mjs', [
  "import slabkv from './index.cjs';",
  'export const { DataStore, DataStoreError } = slabkv;',
  'export default slabkv;',
  '',
].join('\n'));
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], { stdio: 'inherit' });
