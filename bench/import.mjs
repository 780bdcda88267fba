// What loading slabkv costs a program: `require('slabkv')` from CommonJS against `await import('slabkv')` from an
// ES module, each timed inside a new node process (wall time, and the CPU time of the process's threads, which a
// busy machine disturbs less), the kinds taking turns, the median kept. Each is timed twice: in a program that has
// already loaded a module of its own kind (as any program has: the ES module loader's own start, about 3 ms of
// node:fs/promises and the like, is then paid), and as the very first module of the process. Run alone:
// node bench/import.mjs [runs] [--against <checkout>]; `npm run bench` includes it. With --against, another build
// (a checkout, or a copy of its package.json, dist/ and addon) is timed in the same run, each of its processes
// taking turns with this one's, and both are printed: how a change to loading is shown to help.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url)); // the package itself: 'slabkv' names it from there

// Each prints [wall ms, cpu ms] of loading slabkv, and nothing else.
const timed = (before, load) => `${before}
const cpu0 = process.cpuUsage(); const t0 = performance.now();
${load}
const t1 = performance.now(); const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify([t1 - t0, (cpu.user + cpu.system) / 1000]));`;

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/**
 * importTime runs each kind `runs` times in new processes, alternating, and returns the medians (ms) and the ratios
 * of import to require.
 */
export function importTime(runs = 41) {
  return importTimes(runs, [ROOT])[0];
}

/** importTimes is importTime of each package root, their processes taking turns. */
function importTimes(runs, roots) {
  const dir = mkdtempSync(join(tmpdir(), 'slabkv-import-'));
  const first = { cjs: join(dir, 'first.cjs'), mjs: join(dir, 'first.mjs') };
  writeFileSync(first.cjs, 'exports.first = 1;\n');
  writeFileSync(first.mjs, 'export const first = 1;\n');
  const kinds = {
    require: ['-e', timed(`require(${JSON.stringify(first.cjs)});`, "require('slabkv');")],
    import: ['--input-type=module', '-e', timed(`await import(${JSON.stringify(pathToFileURL(first.mjs).href)});`, "await import('slabkv');")],
    'require, first module': ['-e', timed('', "require('slabkv');")],
    'import, first module': ['--input-type=module', '-e', timed('', "await import('slabkv');")],
  };
  const names = Object.keys(kinds);
  const samples = roots.map(() => Object.fromEntries(names.map((name) => [name, { wall: [], cpu: [] }])));
  try {
    for (let i = 0; i < runs; i++) {
      for (const name of names.map((_, j) => names[(i + j) % names.length])) {
        for (const r of roots.map((_, j) => (i + j) % roots.length)) {
          const child = spawnSync(process.execPath, kinds[name], { cwd: roots[r], encoding: 'utf8' });
          if (child.status !== 0) throw new Error(`${name} failed in ${roots[r]}: ${child.stderr}`);
          const [wall, cpu] = JSON.parse(child.stdout);
          samples[r][name].wall.push(wall);
          samples[r][name].cpu.push(cpu);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return samples.map((sample) => {
    const result = { runs };
    for (const name of names) result[name] = { wall: median(sample[name].wall), cpu: median(sample[name].cpu) };
    const ratio = (a, b) => ({ wall: result[a].wall / result[b].wall, cpu: result[a].cpu / result[b].cpu });
    result.ratio = ratio('import', 'require');
    result.firstRatio = ratio('import, first module', 'require, first module');
    return result;
  });
}

/** describe is the figures in a sentence. */
export function describe(r) {
  const ms = (x) => `${x.wall.toFixed(1)} ms (CPU ${x.cpu.toFixed(1)} ms)`;
  const times = (x) => `${x.wall.toFixed(2)}× (CPU ${x.cpu.toFixed(2)}×)`;
  return `in a program that has loaded a module of its kind, \`require('slabkv')\` ${ms(r.require)}, ` +
    `\`await import('slabkv')\` ${ms(r.import)}: import / require ${times(r.ratio)}; as the first module of the ` +
    `process, ${ms(r['require, first module'])} and ${ms(r['import, first module'])}: ${times(r.firstRatio)}. ` +
    `Median of ${r.runs} new processes each, taking turns`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--against');
  const roots = at < 0 ? [ROOT] : [resolve(args.splice(at, 2)[1]), ROOT];
  const results = importTimes(Number(args[0] ?? 41), roots);
  for (const [i, result] of results.entries()) console.log(`${roots.length > 1 ? `${'AB'[i]}, ${roots[i]}: ` : ''}${describe(result)}.`);
}
