#!/usr/bin/env bash
# Builds the addon with ThreadSanitizer and runs the thread tests against it, in a copy of the package under a
# temporary folder (so the normal build is not touched). Reports that name slabkv_native.c are the addon's; Node
# itself is not instrumented, so reports wholly inside node or V8 are not about slabkv. Usage: scripts/tsan.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/package.json" "$root/binding.gyp" "$root/native" "$root/dist" "$root/test" "$work/"
ln -s "$root/node_modules" "$work/node_modules"
sed -i 's/"-O2"\]/"-O1", "-g", "-fsanitize=thread"], "ldflags": ["-fsanitize=thread"]/' "$work/binding.gyp"
gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
(cd "$work" && node "$gyp" rebuild --nodedir="${npm_config_nodedir:-/usr}" >/dev/null 2>&1)
cd "$work"
TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0" LD_PRELOAD="$(gcc -print-file-name=libtsan.so)" \
  node node_modules/uvu/bin.js test '(threads|parallel-reads).test.mjs$' > tsan.log 2>&1 || true
grep -E "Total|Passed|FAIL" tsan.log || true
echo "ThreadSanitizer reports: $(grep -c 'WARNING: ThreadSanitizer' tsan.log || true); naming the addon: $(grep -c 'slabkv_native.c' tsan.log || true)"
