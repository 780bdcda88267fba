// Puts the addon compiled on this machine into prebuilds/<platform>-<arch>/, where the package carries it (a
// Node-API binary: one serves every Node version from 20). With --rebuild (npm pack's prepack step) it compiles
// from a clean build/ first; without it (the prepare step) it takes build/Release as the install step left it,
// compiling only when there is none.
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative } from 'node:path';

const { root, built, prebuilt, nodeGyp } = createRequire(import.meta.url)('./node-gyp.cjs');
if (process.argv.includes('--rebuild') || !existsSync(built)) nodeGyp(['rebuild']);
mkdirSync(dirname(prebuilt), { recursive: true });
// Copied beside it, then renamed over it: a process that has the old binary loaded keeps its file, where writing
// into it in place would change code under that process's feet.
copyFileSync(built, `${prebuilt}.tmp`);
renameSync(`${prebuilt}.tmp`, prebuilt);
console.error(`slabkv: ${relative(root, prebuilt)} from ${relative(root, built)}`);
