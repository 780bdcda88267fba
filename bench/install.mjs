// Installs the benchmark's peers (bench/package.json) into bench/node_modules when any is missing, so that
// slabkv's own `npm install` compiles none of them. Run by `npm run bench`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const manifest = new URL('./package.json', import.meta.url);
const names = Object.keys(JSON.parse(readFileSync(manifest, 'utf8')).dependencies);
// Looked for in bench/node_modules itself: a copy further up (slabkv's own node_modules) is not one of ours.
const missing = names.filter((name) => !existsSync(new URL(`./node_modules/${name}/package.json`, import.meta.url)));
if (missing.length > 0) {
  console.error(`bench: installing the peers into bench/node_modules (missing: ${missing.join(', ')})`);
  // npm run passes its own CLI in npm_execpath; outside npm, the npm on PATH.
  const npm = process.env.npm_execpath;
  const args = ['ci', '--no-audit', '--no-fund'];
  const cwd = new URL('.', import.meta.url);
  const result = npm ? spawnSync(process.execPath, [npm, ...args], { cwd, stdio: 'inherit' }) : spawnSync('npm', args, { cwd, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
