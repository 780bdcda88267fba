// npm's install hook. Inside a node_modules folder, slabkv uses the binary prebuilt for this platform when it loads
// here, and compiles nothing; where none fits (another architecture, musl), or with `npm install
// --build-from-source`, it compiles native/slabkv_native.c with node-gyp into build/Release. In a development
// checkout it always compiles, so the addon matches the C source.
'use strict';
const { existsSync } = require('node:fs');
const path = require('node:path');
const { root, prebuilt, nodeGyp } = require('./node-gyp.cjs');

function prebuiltLoads() {
  if (!existsSync(prebuilt)) return false;
  try {
    require(prebuilt);
    return true;
  } catch (error) {
    console.error(`slabkv: the prebuilt addon does not load here (${error.message}); compiling from source`);
    return false;
  }
}

const asDependency = root.split(path.sep).includes('node_modules');
const fromSource = ['1', 'true'].includes(process.env.npm_config_build_from_source ?? '');
if (!asDependency || fromSource || !prebuiltLoads()) nodeGyp(['rebuild']);
