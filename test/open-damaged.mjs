// Child process for the corruption fuzz: node test/open-damaged.mjs <cases.json> <log>
// For each damaged file: open it, read every key, make a few changes, verify, close. Logs one JSON line per file
// (with write(2), so a crash loses nothing): what happened, and any value returned that was never written.
import { openSync, readFileSync, writeSync } from 'node:fs';
import { DataStore, DataStoreError } from 'slabkv';

const [casesPath, logPath] = process.argv.slice(2);
const { expected, deleted, files } = JSON.parse(readFileSync(casesPath, 'utf8'));
const log = openSync(logPath, 'w');
const say = (event) => writeSync(log, JSON.stringify(event) + '\n');
const isStoreError = (error) => error instanceof DataStoreError;

for (const file of files) {
  say({ start: file });
  const started = performance.now();
  const wrong = [];
  let outcome = 'opened';
  const before = readFileSync(file);
  let db;
  try {
    db = new DataStore(file);
  } catch (error) {
    if (!isStoreError(error)) { say({ file, bug: String(error.stack) }); continue; }
    // A refused open never writes.
    say({ file, outcome: error.code, wrong, unchanged: readFileSync(file).equals(before), ms: Math.round(performance.now() - started) });
    continue;
  }
  try {
    for (const [key, text] of Object.entries(expected)) {
      try {
        const got = db.readText(key);
        if (got !== text) wrong.push(`${key}: read ${got.slice(0, 40)}`);
      } catch (error) {
        if (!isStoreError(error)) throw error;
      }
    }
    for (const key of deleted) {
      try { if (db.has(key)) { try { wrong.push(`${key}: deleted, but read ${db.readText(key).slice(0, 40)}`); } catch (e) { if (!isStoreError(e)) throw e; } } } catch (error) { if (!isStoreError(error)) throw error; }
    }
    for (let i = 0; i < 50; i++) {
      try {
        db.create(`fuzz:${i}`, { i, pad: 'z'.repeat(i * 97) });
        if (db.readText(`fuzz:${i}`) !== JSON.stringify({ i, pad: 'z'.repeat(i * 97) })) wrong.push(`fuzz:${i} read back wrong`);
        if (i % 2) db.delete(`fuzz:${i}`);
      } catch (error) {
        if (!isStoreError(error)) throw error;
      }
    }
    try { outcome = db.verify().ok ? 'verified' : 'problems'; } catch (error) { if (!isStoreError(error)) throw error; outcome = error.code; }
    db.close();
  } catch (error) {
    if (!isStoreError(error)) { say({ file, bug: String(error.stack) }); continue; }
    outcome = error.code;
  }
  say({ file, outcome, wrong, ms: Math.round(performance.now() - started) });
}
say({ done: true });
