// The package as a user gets it: `npm pack` (prepack builds the prebuilt addon, prepare builds dist/), the tarball
// installed into a new app with install scripts off, then used from ESM, CommonJS, the CLI, and type-checked by
// small TypeScript projects of each kind, with TypeScript 7 and 5, strict, without @types/node or skipLibCheck.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { scratch } from './helpers.mjs';

const repo = new URL('..', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
// Runtime dependencies the package may still have while the lead's change that replaces them is not merged.

const tmp = scratch();
const app = join(tmp.dir, 'app');
const npm = (args, cwd) => {
  // Under `npm test`, the same npm that runs the tests; otherwise the npm on PATH.
  const [cmd, pre] = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  return execFileSync(cmd, [...pre, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
};
const node = (args, cwd = app) => execFileSync(process.execPath, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const write = (file, text) => { mkdirSync(join(file, '..'), { recursive: true }); writeFileSync(file, text); };

test.after(() => tmp.remove());

let packed;
test('npm pack makes a tarball with the prebuilt addon, the bundles and the public declarations only', () => {
  const out = npm(['pack', '--json', '--pack-destination', tmp.dir], repo);
  [packed] = JSON.parse(out.slice(out.search(/^\[/m))); // after anything a lifecycle script printed
  const files = packed.files.map((f) => f.path);
  for (const file of ['prebuilds/linux-x64/slabkv_native.node', 'dist/index.cjs', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/keyv.cjs', 'dist/keyv.mjs', 'dist/keyv.d.ts', 'dist/keyv.d.cts', 'dist/cli.cjs', 'dist/format.cjs', 'dist/redis.cjs', 'dist/redis.mjs', 'dist/redis.d.ts', 'dist/redis.d.cts', 'scripts/install.cjs', 'native/slabkv_native.c', 'binding.gyp']) {
    assert.ok(files.includes(file), `${file} is in the tarball`);
  }
  for (const file of files) assert.not.match(file, /^(src|test|bench|build)\/|^dist\/types\//, `${file} should not be in the tarball`);
  assert.equal(Object.keys(manifest.dependencies ?? {}), [], 'no runtime dependencies');
});

test('the tarball installs with scripts off, compiling nothing', () => {
  write(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  npm(['install', join(tmp.dir, packed.filename), '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], app);
  const installed = join(app, 'node_modules', 'slabkv');
  assert.ok(existsSync(join(installed, 'prebuilds', 'linux-x64', 'slabkv_native.node')));
  assert.not.ok(existsSync(join(installed, 'build')), 'nothing was compiled');
  const packages = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
  assert.ok(packages.length <= 3, `slabkv and at most two packages: ${packages.join(', ')}`);
});

const use = (imports) => `${imports}
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const dir = mkdtempSync(join(tmpdir(), 'slabkv-app-'));
const db = new DataStore(join(dir, 'app.slabkv'));
db.create('user:1', { name: 'Ada' });
let code;
try { db.create('user:1', { name: 'Ada' }); } catch (error) { code = error instanceof DataStoreError && error.code; }
const out = { value: db.read('user:1'), code, same: slabkv.DataStore === DataStore };
db.close();
rmSync(dir, { recursive: true });
console.log(JSON.stringify(out));
`;

test('ESM and CommonJS consumers load it and use it', () => {
  write(join(app, 'esm.mjs'), use("import slabkv, { DataStore, DataStoreError } from 'slabkv';"));
  write(join(app, 'cjs.cjs'), use("const slabkv = require('slabkv'); const { DataStore, DataStoreError } = slabkv;").replace(/^import \{ (.*) \} from '(node:\w+)';$/gm, "const { $1 } = require('$2');"));
  const expected = { value: { name: 'Ada' }, code: 'KEY_EXISTS', same: true };
  assert.equal(JSON.parse(node(['esm.mjs'])), expected);
  assert.equal(JSON.parse(node(['cjs.cjs'])), expected);
  // One module instance behind both, and the addon is the prebuilt one. A store opened through each shares one open
  // store: closing one handle leaves the other working, and the last close seals the file.
  const both = node(['--input-type=module', '-e', `
    import { createRequire } from 'node:module';
    import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    import { DataStore, DataStoreError } from 'slabkv';
    const require = createRequire(import.meta.url);
    const dir = mkdtempSync(join(tmpdir(), 'slabkv-both-'));
    const path = join(dir, 'both.slabkv');
    const viaImport = new DataStore(path);
    const viaRequire = new (require('slabkv').DataStore)(path);
    viaImport.create('a', { by: 'import' });
    viaImport.close();
    viaRequire.create('b', { by: 'require' });
    const shared = { a: viaRequire.read('a'), keys: viaRequire.count };
    viaRequire.close();
    const state = readFileSync(path).readUInt32LE(32);
    rmSync(dir, { recursive: true });
    const same = require('slabkv').DataStore === DataStore && require('slabkv').DataStoreError === DataStoreError;
    console.log(JSON.stringify({ same, shared, state, addons: Object.keys(require.cache).filter((f) => f.includes('/slabkv/') && f.endsWith('.node')) }));`]);
  const { same, shared, state, addons } = JSON.parse(both);
  assert.ok(same);
  assert.equal(shared, { a: { by: 'import' }, keys: 2 });
  assert.is(state, 0, 'sealed by the last close');
  assert.equal(addons, [join(app, 'node_modules', 'slabkv', 'prebuilds', 'linux-x64', 'slabkv_native.node')]);
  // slabkv/keyv from both, with keyv itself not installed: the store needs nothing of it to run.
  const file = join(tmp.dir, 'keyv-app.slabkv');
  const keyvStore = (load) => node(['--input-type=module', '-e', `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const { KeyvSlabkv } = ${load};
    const store = new KeyvSlabkv(${JSON.stringify(file)});
    await store.set('keyv:' + 'k'.repeat(100), 'text');
    console.log(JSON.stringify(await store.get('keyv:' + 'k'.repeat(100))));
    await store.disconnect();`]);
  assert.not.ok(existsSync(join(app, 'node_modules', 'keyv')));
  assert.is(JSON.parse(keyvStore("await import('slabkv/keyv')")), 'text');
  assert.is(JSON.parse(keyvStore("require('slabkv/keyv')")), 'text');
});

test('loading slabkv, and opening an existing store, load no built-in module of Node.js the program has not', () => {
  // Each built-in module is paid for at every start of a program (node:os a few tenths of a millisecond, node:crypto
  // several); Node's own internals (the resolver of package "exports", say) are not counted.
  const loadedBy = (setup, measured) => JSON.parse(node(['-e', `
    ${setup}
    const before = new Set(process.moduleLoadList);
    ${measured}
    console.log(JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m) && /^NativeModule (?!internal\\/)/.test(m))));`]));
  assert.equal(loadedBy('', "require('slabkv');"), []);
  const path = JSON.stringify(join(tmp.dir, 'builtins.slabkv'));
  assert.equal(loadedBy(`const { DataStore } = require('slabkv'); new DataStore(${path}).close();`, `
    const db = new DataStore(${path});
    db.create('user:1', { name: 'Ada' });
    db.read('user:1');
    db.close();`), []);
});

test('slabkv/redis loads from ESM and CommonJS without @redis/client, and connect says how to get it', () => {
  assert.not.ok(existsSync(join(app, 'node_modules', '@redis')), 'the optional peer is not installed');
  const connect = (load) => node(['--input-type=module', '-e', `
    import { createRequire } from 'node:module';
    import { DataStoreError } from 'slabkv';
    const require = createRequire(import.meta.url);
    const { RedisDataStore } = ${load};
    await RedisDataStore.connect({ url: 'redis://127.0.0.1:1' }).catch((error) => console.log(JSON.stringify([error instanceof DataStoreError, error.code, error.message])));`]);
  for (const load of ["await import('slabkv/redis')", "require('slabkv/redis')"]) {
    const [same, code, message] = JSON.parse(connect(load));
    assert.ok(same, `${load}: its DataStoreError is the one of slabkv`);
    assert.is(code, 'IO_ERROR');
    assert.match(message, /npm install @redis\/client/);
  }
});

test('the CLI runs from node_modules/.bin', () => {
  const bin = join(app, 'node_modules', '.bin', 'slabkv');
  assert.is(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim(), manifest.version);
  const file = join(tmp.dir, 'cli.slabkv');
  execFileSync(bin, ['put', 'k', '{"a":1}', '--file', file]);
  assert.is(execFileSync(bin, ['get', 'k', '--file', file], { encoding: 'utf8' }).trim(), '{"a":1}');
});

// A consumer's code: the whole public API (slabkv/redis too), with errors it must get if the types are real (not any).
const consumer = (imports, extra = '') => `${imports}
import { RedisDataStore, type RedisDataStoreOptions } from 'slabkv/redis';
export function demo(path: string): number {
  const options: DataStoreOptions = { maxFileSize: 1 << 20, durability: 'always' };
  const db = new DataStore(path, options);
  db.create('user:1', { name: 'Ada', tags: ['x'], nested: { n: 1, ok: true, none: null } }, 60);
  const value: JsonObject = db.read('user:1');
  const text: string = db.readText('user:1');
  const stats: DataStoreStats = db.stats();
  const recovered: RecoveryReport | null = stats.recovered;
  const report: VerifyReport = db.verify({ onProgress: (done, total) => void (done / total) });
  const problem: VerifyProblem | undefined = report.details[0];
  const kind: VerifyProblemKind | undefined = problem?.kind;
  // @ts-expect-error not a kind of problem
  if (kind === 'no-such-kind') void problem?.offset;
  const space: ClassSpace[] = db.spaceByClass();
  const expires: number | null = db.expiresAt('user:1');
  for (const key of db.keys({ prefix: 'user:' })) void key.length;
  for (const [key, v] of db.entries()) void [key, v];
  // @ts-expect-error values are JSON objects
  db.create('user:2', 'text');
  try { db.delete('user:3'); } catch (error) {
    if (error instanceof DataStoreError) {
      const code: ErrorCode = error.code;
      // @ts-expect-error not an error code
      if (error.code === 'NO_SUCH_CODE') void code;
    }
  }
  db.set('user:1', { name: 'Ada' }, { expiresAt: Date.now() + 1000 });
  const maybe: JsonObject | undefined = db.get('user:1');
  db.update('counter', (current) => ({ n: typeof current?.['n'] === 'number' ? current['n'] + 1 : 1 }));
  const inside: number = db.transaction(() => { db.delete('user:1'); return 1; });
  db.clear();
  db.flush();
  db.close();
  void [value, text, recovered, report.ok, space, expires, db.path, db.count, db.has('x'), maybe, inside];
  return stats.keys;
}

// Typed values: an interface is accepted, and get, read, set and update carry it.
interface User { name: string; visits: number }
export function typed(path: string): number {
  const users = new DataStore<User>(path);
  users.set('u:1', { name: 'Ada', visits: 1 });
  const user: User | undefined = users.get('u:1');
  const visits: number = users.read('u:1').visits;
  const after: User | undefined = users.update('u:1', (current) => current && { ...current, visits: current.visits + 1 });
  for (const [key, value] of users.entries()) void [key, value.visits];
  // @ts-expect-error a User has visits
  users.set('u:2', { name: 'Grace' });
  // @ts-expect-error get may miss
  const sure: User = users.get('u:1');
  const named: string = users.transaction(() => { users.create('u:3', { name: 'Lin', visits: 0 }); return users.read('u:3').name; });
  users.close();
  // A store of plain JSON objects takes an interface's value too (TS2345 before), and update gives back what fn returned.
  const db = new DataStore(path);
  const grace: User = { name: 'Grace', visits: 2 };
  db.create('u:4', grace);
  db.set('u:4', grace, 60);
  const counted: number | undefined = db.update('n', (current) => ({ n: Number(current?.['n'] ?? 0) + 1 }))?.n;
  const moved: User | undefined = db.update('u:4', () => grace);
  // @ts-expect-error values are objects
  db.set('u:5', 'text');
  // @ts-expect-error an array is no JSON object
  db.set('u:5', [grace]);
  // @ts-expect-error nor is a promise
  db.create('u:5', Promise.resolve(grace));
  // @ts-expect-error update takes a synchronous function
  db.update('u:5', async () => grace);
  db.set('u:5', { length: 3, then: 'later' }); // any names of properties
  db.close();
  void [named, counted, moved];
  return visits + (user?.visits ?? 0) + (after?.visits ?? 0) + (sure ? 0 : 1);
}
export async function remote(url: string): Promise<number | null> {
  const options: RedisDataStoreOptions = { url, connectTimeout: 1000, clientOptions: { name: 'app' } };
  const db = await RedisDataStore.connect(options);
  await db.create('user:1', { name: 'Ada', tags: ['x'] }, { expiresAt: Date.now() + 1000 });
  const value: JsonObject = await db.read('user:1');
  const maybe: JsonObject | undefined = await db.get('user:1');
  const text: string = await db.readText('user:1');
  const counted = await db.update('n', (current) => ({ n: Number(current?.['n'] ?? 0) + 1 }), 60);
  await db.set('user:1', { name: 'Grace' });
  for await (const key of db.keys({ prefix: 'user:' })) void key.length;
  // @ts-expect-error values are JSON objects
  await db.set('user:2', 'text');
  // @ts-expect-error keys() is an async iterator
  for (const key of db.keys()) void key;
  const live: boolean = await db.has('user:1');
  await db.delete('user:1');
  const at: number | null = await db.expiresAt('n');
  await db.close();
  const users = await RedisDataStore.connect<User>({ url });
  const user: User | undefined = await users.update('u:1', (current) => current && { ...current, visits: current.visits + 1 });
  // @ts-expect-error a User has visits
  await users.set('u:2', { name: 'Grace' });
  await users.close();
  const plain = await RedisDataStore.connect({ url });
  await plain.set('u:3', user ?? { name: 'Grace', visits: 0 }); // an interface's value in a store of JSON objects
  // @ts-expect-error an array is no JSON object
  await plain.set('u:4', [1]);
  await plain.close();
  void [value, maybe, text, counted, live, user];
  return at;
}
${extra}`;
// slabkv/format ships declarations: its constants and functions are typed (no implicit any, TS7016).
const formatUse = `import { HEADER_SIZE, Header, xxh32, isLiveState } from 'slabkv/format';
export const headerSize: number = HEADER_SIZE + Header.commit;
export const hash: number = xxh32(new Uint8Array(4), 0, 4, 0);
export const live: boolean = isLiveState(1, false);
// @ts-expect-error HEADER_SIZE is a number
export const wrong: string = HEADER_SIZE;`;
// A consumer of slabkv/keyv: the store is a Keyv store by Keyv's own type (keyv is linked into the app for this).
const keyvConsumer = `
import { Keyv, type KeyvStoreAdapter } from 'keyv';
import { KeyvSlabkv, keyvStoreKey, type KeyvSlabkvEntry } from 'slabkv/keyv';
export async function cache(path: string): Promise<string | undefined> {
  const store = new KeyvSlabkv(path, { maxFileSize: 1 << 20 });
  const adapter: KeyvStoreAdapter = store;
  const keyv = new Keyv<string>({ store });
  const shared = new KeyvSlabkv(new DataStore(path));
  // @ts-expect-error an open DataStore takes no options
  void new KeyvSlabkv(new DataStore(path), { durability: 'always' });
  const entries: KeyvSlabkvEntry[] = [{ key: 'keyv:a', value: 'text', ttl: 1000 }];
  await shared.setMany(entries);
  for await (const [key] of shared.iterator('keyv')) void key.length;
  const storeKey: string = keyvStoreKey('keyv:a');
  await keyv.set('b', 'text', 1000);
  void [adapter, storeKey];
  return keyv.get('b');
}
`;
const publicTypes = 'type DataStoreOptions, type DataStoreStats, type ErrorCode, type JsonObject, type RecoveryReport, type VerifyReport, type VerifyProblem, type VerifyProblemKind, type ClassSpace';
const strict = { strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, noEmit: true, skipLibCheck: false, types: [], target: 'ES2022' };
const projects = {
  // ESM, module nodenext; also the default export.
  'esm-nodenext': { type: 'module', options: { module: 'nodenext', lib: ['ES2022'] }, file: 'main.ts', code: consumer(`import slabkv, { DataStore, DataStoreError, ${publicTypes} } from 'slabkv';`, `export const same: typeof DataStore = slabkv.DataStore;\n${formatUse}${keyvConsumer}`), declarations: ['index.d.ts', 'keyv.d.ts', 'redis.d.ts'] },
  // CommonJS, module node16: `import` compiles to require(), so the require condition's .d.cts applies.
  'cjs-node16': { type: 'commonjs', options: { module: 'node16', lib: ['ES2022'] }, file: 'main.ts', code: consumer(`import { DataStore, DataStoreError, ${publicTypes} } from 'slabkv';`, `import slabkv = require('slabkv');\nexport const same: typeof DataStore = slabkv.DataStore;\n${formatUse}${keyvConsumer}`), declarations: ['index.d.cts', 'keyv.d.cts', 'redis.d.cts'] },
  // A .cts file in an ESM package, module nodenext.
  'cts-nodenext': { type: 'module', options: { module: 'nodenext', lib: ['ES2022'] }, file: 'main.cts', code: consumer(`import { DataStore, DataStoreError, ${publicTypes} } from 'slabkv';`, keyvConsumer), declarations: ['index.d.cts', 'keyv.d.cts', 'redis.d.cts'] },
  // A bundler project, with `using` (lib esnext has Symbol.dispose itself).
  'bundler': { type: 'module', options: { module: 'esnext', moduleResolution: 'bundler', lib: ['ESNext'] }, file: 'main.ts', code: consumer(`import { DataStore, DataStoreError, ${publicTypes} } from 'slabkv';`, `export function scoped(path: string): boolean { using db = new DataStore(path); return db.has('k'); }${keyvConsumer}`), declarations: ['index.d.ts', 'keyv.d.ts', 'redis.d.ts'] },
};
const compilers = { 'TypeScript 7': join(repo, 'node_modules/typescript/bin/tsc'), 'TypeScript 5': join(repo, 'node_modules/typescript5/bin/tsc') };

test('TypeScript consumers type-check: ESM and CommonJS, node16, nodenext and bundler, TypeScript 7 and 5', async () => {
  const runs = [];
  // keyv is an optional peer of slabkv: the app gets the copy slabkv's own tests use, for its declarations.
  symlinkSync(join(repo, 'node_modules', 'keyv'), join(app, 'node_modules', 'keyv'));
  for (const [name, project] of Object.entries(projects)) {
    const dir = join(app, 'ts', name);
    write(join(dir, 'package.json'), JSON.stringify({ type: project.type }));
    write(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...strict, ...project.options }, files: [project.file] }));
    write(join(dir, project.file), project.code);
    for (const [compiler, tsc] of Object.entries(compilers)) {
      runs.push(promisify(execFile)(process.execPath, [tsc, '-p', '.', '--listFiles'], { cwd: dir, encoding: 'utf8' }).then(
        ({ stdout }) => {
          const used = stdout.split('\n').filter((f) => f.includes('node_modules/slabkv/') && !f.includes('/dist/format/'));
          assert.equal(used.map((f) => f.slice(f.lastIndexOf('/') + 1)).sort(), project.declarations, `${name} with ${compiler} reads ${project.declarations.join(', ')}`);
        },
        (error) => assert.unreachable(`${name} with ${compiler}:\n${error.stdout}${error.stderr}`),
      ));
    }
  }
  await Promise.all(runs);
});

test('the declarations name nothing of Node.js or of slabkv internals', () => {
  for (const file of ['index.d.ts', 'index.d.cts']) {
    const text = readFileSync(join(app, 'node_modules', 'slabkv', 'dist', file), 'utf8');
    assert.not.match(text, /\bBuffer\b|\bNodeJS\b|import\(|from '/, file);
    const declared = [...text.matchAll(/^export (?:declare )?(?:class|interface|type) (\w+)/gm)].map((m) => m[1]).sort();
    assert.equal(declared, ['ClassSpace', 'DataStore', 'DataStoreError', 'DataStoreOptions', 'DataStoreStats', 'ErrorCode', 'Expiry', 'JsonObject', 'JsonValue', 'RecoveryReport', 'VerifyProblem', 'VerifyProblemKind', 'VerifyReport'], file);
  }
  for (const file of ['redis.d.ts', 'redis.d.cts']) {
    const text = readFileSync(join(app, 'node_modules', 'slabkv', 'dist', file), 'utf8');
    assert.not.match(text, /\bBuffer\b|\bNodeJS\b|import\(|from '/, file);
    const declared = [...text.matchAll(/^export (?:declare )?(?:class|interface|type) (\w+)/gm)].map((m) => m[1]).sort();
    assert.equal(declared, ['Expiry', 'JsonObject', 'JsonValue', 'RedisDataStore', 'RedisDataStoreOptions'], file);
  }
  // slabkv/keyv's declare its own names and take DataStore's from the main entry's (one type, not a copy).
  for (const [file, main] of [['keyv.d.ts', './index.js'], ['keyv.d.cts', './index.cjs']]) {
    const text = readFileSync(join(app, 'node_modules', 'slabkv', 'dist', file), 'utf8');
    assert.not.match(text, /\bBuffer\b|\bNodeJS\b|import\(/, file);
    assert.equal([...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]), [main], file);
    const declared = [...text.matchAll(/^export (?:declare )?(?:class|interface|type|function) (\w+)/gm)].map((m) => m[1]).sort();
    assert.equal(declared, ['KeyvSlabkv', 'KeyvSlabkvEntry', 'keyvStoreKey'], file);
  }
});

test.run();
