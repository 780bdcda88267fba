// Runs node-gyp on slabkv's addon (binding.gyp). npm hands its own node-gyp to the scripts it runs: the path in
// npm_config_node_gyp, and a node-gyp shim on PATH. Outside npm: a node-gyp on PATH, else npm's own.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const ADDON = 'slabkv_native.node';

/** Where the loader (src/native.ts) looks for the addon, in its order. */
const built = path.join(root, 'build', 'Release', ADDON);
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, ADDON);

/**
 * nodeGyp runs node-gyp with args in the package root; it exits the process with node-gyp's status on failure.
 * Its output goes to stderr, so that the compiler's log does not mix with what npm prints (`npm pack --json`).
 */
function nodeGyp(args) {
  // Outside npm, and with no node-gyp on PATH, the node-gyp of the npm installed beside this node.
  const besideNode = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const script = process.env.npm_config_node_gyp ?? (onPath('node-gyp') ? undefined : existsSync(besideNode) ? besideNode : undefined);
  const result = script
    ? spawnSync(process.execPath, [script, ...args], { cwd: root, stdio: ['inherit', 2, 'inherit'] })
    : spawnSync('node-gyp', args, { cwd: root, stdio: ['inherit', 2, 'inherit'], shell: process.platform === 'win32' });
  if (result.error) {
    console.error(`slabkv: could not run node-gyp (${result.error.message}); run this through npm, or install node-gyp`);
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function onPath(command) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, command)));
}

module.exports = { root, built, prebuilt, nodeGyp };
