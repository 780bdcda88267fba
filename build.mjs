// Builds dist/: the CommonJS bundle (the one implementation), an ESM entry that re-exports it (so `import` and
// `require` share one module instance and one registry of open stores), and .d.ts files from tsc.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', packages: 'external', sourcemap: true, logLevel: 'warning' };
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.cjs' });
await build({ ...common, entryPoints: ['src/format/index.ts'], outfile: 'dist/format.cjs' });
writeFileSync('dist/index.mjs', [
  "import slabkv from './index.cjs';",
  'export const { DataStore, DataStoreError } = slabkv;',
  'export default slabkv;',
  '',
].join('\n'));
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], { stdio: 'inherit' });
