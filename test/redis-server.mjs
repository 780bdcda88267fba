// A real Redis (or Valkey) server for the tests: started on a free port of 127.0.0.1 in a temporary folder, without
// persistence, and stopped by the test. Where no server is installed, redisServer() says why instead; with
// SLABKV_REQUIRE_REDIS=1 (as in CI) that is an error, so the Redis tests can never be skipped there unnoticed, and
// with SLABKV_REQUIRE_VALKEY=1 (as in CI) so is a missing valkey-server: the tests that talk to a server run
// against each of the two that is installed (serverPrograms).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The server programs tried, in order; SLABKV_REDIS_SERVER names another (valkey-server, a path). */
const PROGRAMS = process.env.SLABKV_REDIS_SERVER ? [process.env.SLABKV_REDIS_SERVER] : ['redis-server', 'valkey-server'];
/** Tries with another free port, when the one found was taken by someone else before the server bound it. */
const PORT_TRIES = 5;

/** probe returns a server program's version line and its command-line client (redis-cli beside redis-server), or null. */
function probe(program) {
  const run = spawnSync(program, ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? { program, version: run.stdout.trim(), cli: program.replace(/server$/, 'cli') } : null;
}

/** serverProgram returns the first installed server program (as probe), or null. */
export function serverProgram() {
  for (const program of PROGRAMS) {
    const found = probe(program);
    if (found !== null) return found;
  }
  return null;
}

/**
 * serverPrograms lists the programs a test that talks to a server runs against: each of PROGRAMS that is installed.
 * A missing valkey-server is an error under SLABKV_REQUIRE_VALKEY=1; a list with no program, under
 * SLABKV_REQUIRE_REDIS=1 (redisServer says so when asked for a server).
 */
export function serverPrograms() {
  const found = PROGRAMS.map(probe).filter((p) => p !== null);
  if (process.env.SLABKV_REQUIRE_VALKEY === '1' && !found.some((p) => p.program.endsWith('valkey-server'))) {
    throw new Error('SLABKV_REQUIRE_VALKEY=1, but valkey-server is not installed');
  }
  return found.length > 0 ? found.map((p) => p.program) : [undefined];
}

/**
 * redisServer starts a server and returns { url, port, program, version, cli, stop() }, or { skipped: reason } when no
 * server program is installed (an Error instead under SLABKV_REQUIRE_REDIS=1). stop() ends the server and removes
 * its folder; a server still running when the process exits is killed then. With { port }, a new server on that
 * port (one stopped before: a restart, as clients see it); with { program }, that program (one of serverPrograms()).
 */
export async function redisServer({ port, program } = {}) {
  const found = program === undefined ? serverProgram() : probe(program);
  if (found === null) {
    const reason = `no Redis server installed (tried ${PROGRAMS.join(', ')}); apt-get install redis-server runs these tests`;
    if (process.env.SLABKV_REQUIRE_REDIS === '1') throw new Error(`SLABKV_REQUIRE_REDIS=1, but ${reason}`);
    return { skipped: reason };
  }
  let lastError;
  for (let attempt = 0; attempt < PORT_TRIES; attempt++) {
    try {
      return { ...(await start(found.program, port ?? await freePort())), ...found };
    } catch (error) {
      lastError = error;
      if (!error.portTaken || port !== undefined) break;
    }
  }
  throw lastError;
}

/**
 * skipOrServer is redisServer for a test file: it prints the reason when there is no server (so the run says what
 * did not run) and returns null then.
 */
export async function skipOrServer(what, program) {
  const server = await redisServer({ program });
  if (server.skipped) {
    console.log(`  skipped: ${what}: ${server.skipped}`);
    return null;
  }
  return server;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function start(program, port) {
  const dir = mkdtempSync(join(tmpdir(), 'slabkv-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', ''];
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const killAtExit = () => child.kill('SIGKILL');
  process.on('exit', killAtExit);
  let log = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const cleanUp = () => {
    process.off('exit', killAtExit);
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    cleanUp();
  };
  return new Promise((resolve, reject) => {
    const onOutput = (chunk) => {
      log += chunk;
      if (/Ready to accept connections/.test(log)) {
        child.stdout.off('data', onOutput);
        child.stdout.resume(); // keep draining its log
        resolve({ url: `redis://127.0.0.1:${port}`, port, stop });
      }
    };
    child.stdout.setEncoding('utf8').on('data', onOutput);
    child.stderr.setEncoding('utf8').on('data', (chunk) => { log += chunk; });
    child.once('error', (error) => { cleanUp(); reject(error); });
    exited.then(({ code, signal }) => {
      cleanUp();
      const error = new Error(`${program} on port ${port} exited (${signal ?? `code ${code}`}) before it was ready:\n${log}`);
      error.portTaken = /Address already in use/i.test(log);
      reject(error); // no effect once it was ready
    });
  });
}
