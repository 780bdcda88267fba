// Writes test/fixtures/tiny-v1.slabkv, the store that spec/FORMAT.md decodes byte by byte:
//   create "user:1" {"name":"Ada"}; create "session" {"user":1} with a 60 s TTL at 2026-01-01T00:00:00Z; close.
// The clock is pinned so that the file is the same on every run. Run: npm run build && node scripts/make-fixture.mjs
import { rmSync } from 'node:fs';
import { DataStore } from 'slabkv';

export const FIXTURE = new URL('../test/fixtures/tiny-v1.slabkv', import.meta.url).pathname;
export const PINNED_NOW = Date.UTC(2026, 0, 1);

export function makeFixture(path) {
  rmSync(path, { force: true });
  const realNow = Date.now;
  Date.now = () => PINNED_NOW;
  try {
    const db = new DataStore(path);
    db.create('user:1', { name: 'Ada' });
    db.create('session', { user: 1 }, 60);
    db.close();
  } finally {
    Date.now = realNow;
  }
}

if (process.argv[1] === new URL(import.meta.url).pathname) makeFixture(FIXTURE);
