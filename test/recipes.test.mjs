// The README's recipes run, each as a user would run it: every fenced block whose info string is `js recipe`, under
// the "## Recipes" section, one `### ` heading each, is saved as recipe.mjs in a new temporary folder where 'slabkv'
// (and 'slabkv/keyv', 'slabkv/redis') names this package, and run there (`node recipe.mjs`, an ES module), with a data
// folder of its own for the default store. A recipe asserts its own outcome and must exit 0. A recipe that reads REDIS_URL gets a
// redis-server of its own from test/redis-server.mjs; where there is none, it is reported as not run, with the
// reason (a failure under SLABKV_REQUIRE_REDIS=1). Also the tour (`npm start`): it prints every call it makes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataStore } from 'slabkv';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REDIS_HELPER = new URL('./redis-server.mjs', import.meta.url);

/** recipes returns the README's recipes: { title, code }, in order. */
function recipes(readme) {
  const start = readme.search(/^## Recipes$/m);
  if (start < 0) return [];
  const end = readme.slice(start + 1).search(/^## /m);
  const section = end < 0 ? readme.slice(start) : readme.slice(start, start + 1 + end);
  const found = [];
  let title = null;
  const pattern = /^### (.+)$|^```js recipe\n([\s\S]*?)^```$/gm;
  for (let match; (match = pattern.exec(section)) !== null;) {
    if (match[1] !== undefined) title = match[1].trim();
    else found.push({ title, code: match[2] });
  }
  return found;
}

/**
 * runIn saves an ES module's source as recipe.mjs in a new temporary folder where 'slabkv' is this package, and the
 * packages it is tested with (keyv, cache-manager, @redis/client) are installed as a user would have them, and runs
 * it there; returns the result.
 */
function runIn(code, env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'slabkv-recipe-'));
  try {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'slabkv'), 'dir');
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (!name.startsWith('.') && name !== 'slabkv') symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
    }
    writeFileSync(join(dir, 'recipe.mjs'), code);
    return spawnSync(process.execPath, ['recipe.mjs'], {
      cwd: dir, encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, XDG_DATA_HOME: join(dir, 'data'), ...env },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** redisServer starts a redis-server for a recipe, or returns { skipped: reason } where none can be had. */
async function redisServer() {
  if (!existsSync(REDIS_HELPER)) {
    const reason = 'test/redis-server.mjs, which starts a redis-server for the tests, is not in this checkout';
    if (process.env.SLABKV_REQUIRE_REDIS === '1') throw new Error(`SLABKV_REQUIRE_REDIS=1, but ${reason}`);
    return { skipped: reason };
  }
  return (await import(REDIS_HELPER.href)).redisServer();
}

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const found = recipes(readme);

test('the README has a Recipes section of runnable recipes, each under a heading of its own', () => {
  assert.ok(found.length >= 4, `${found.length} recipes found`);
  const titles = found.map((recipe) => recipe.title);
  assert.ok(titles.every((title) => title !== null), 'every recipe is under a ### heading');
  assert.is(new Set(titles).size, titles.length, `one recipe per heading: ${titles.join(', ')}`);
});

for (const { title, code } of found) {
  test(`recipe: ${title}`, async () => {
    let server = null;
    if (/REDIS_URL/.test(code)) {
      server = await redisServer();
      if (server.skipped) {
        console.log(`  not run: recipe "${title}" needs Redis: ${server.skipped}`);
        return;
      }
    }
    try {
      const result = runIn(code, server ? { REDIS_URL: server.url } : {});
      assert.is(result.status, 0, `recipe "${title}" exited ${result.status ?? result.signal}:\n${result.stderr}`);
    } finally {
      await server?.stop();
    }
  });
}

test('the tour runs, and again, printing each call it makes on the default store, and leaves no key of its own', () => {
  const data = mkdtempSync(join(tmpdir(), 'slabkv-tour-'));
  try {
    for (const run of [1, 2]) {
      const result = spawnSync(process.execPath, [join(ROOT, 'scripts', 'tour.mjs')], {
        cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDG_DATA_HOME: data },
      });
      assert.is(result.status, 0, `run ${run}: ${result.stderr}`);
      const calls = result.stdout.split('\n').filter((line) => line.startsWith('> '));
      for (const name of ['set', 'get', 'update', 'transaction', 'create', 'keys', 'close']) {
        assert.ok(calls.some((line) => line.includes(`db.${name}(`)), `run ${run} prints a call of ${name}`);
      }
      assert.match(result.stdout, /threw KEY_EXISTS/);
    }
    const db = new DataStore(join(data, 'slabkv', 'default.slabkv'));
    assert.equal([...db.keys({ prefix: 'tour:' })], []);
    assert.is(db.stats().recovered, null, 'closed cleanly');
    db.close();
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test.run();
