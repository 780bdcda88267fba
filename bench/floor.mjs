// The floor of a lookup in a file-backed hash index, measured in plain JavaScript: an open-addressed bucket array
// (hash, record offset) and records (key length, key bytes) in typed arrays, the same shape as slabkv's index but
// with nothing else: no checksum, no value decoding, no file, no concurrency check. At a million keys its cost is
// the chain of cache misses a lookup must take in turn (the key's string, its bucket, its record), which a Map
// also takes but overlaps from one lookup to the next, its code being short enough for the CPU to run ahead.

/** FNV-1a over a string's UTF-16 code units: any cheap hash will do here. */
function hashOf(key) {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A bare index of keys: RECORD_BYTES per record, like slabkv's records of ~190 bytes. */
function bareIndex(keys) {
  const RECORD_WORDS = 48;
  const capacity = 2 ** Math.ceil(Math.log2(keys.length / 0.75));
  const buckets = new Uint32Array(capacity * 2);
  const records = new Uint32Array((keys.length + 1) * RECORD_WORDS);
  keys.forEach((key, i) => {
    const record = (i + 1) * RECORD_WORDS;
    records[record] = key.length;
    for (let j = 0; j < key.length; j++) records[record + 1 + j] = key.charCodeAt(j);
    const hash = hashOf(key);
    let slot = hash & (capacity - 1);
    while (buckets[slot * 2] !== 0) slot = (slot + 1) & (capacity - 1);
    buckets[slot * 2] = record;
    buckets[slot * 2 + 1] = hash;
  });
  return function has(key) {
    const hash = hashOf(key);
    for (let slot = hash & (capacity - 1); ; slot = (slot + 1) & (capacity - 1)) {
      const record = buckets[slot * 2];
      if (record === 0) return false;
      if (buckets[slot * 2 + 1] !== hash || records[record] !== key.length) continue;
      let same = true;
      for (let j = 0; j < key.length && same; j++) same = records[record + 1 + j] === key.charCodeAt(j);
      if (same) return true;
    }
  };
}

/** lookupFloor: lookups per second of the bare index's has and of a Map's get, side by side, median of rounds. */
export function lookupFloor(keys, order, rounds) {
  const has = bareIndex(keys);
  const map = new Map(keys.map((key, i) => [key, `{"id":${i}}`]));
  const samples = { bare: [], map: [] };
  for (let round = 0; round < rounds; round++) {
    let found = 0;
    let t = performance.now();
    for (let i = 0; i < order.length; i++) if (has(keys[order[i]])) found++;
    samples.bare.push(order.length / ((performance.now() - t) / 1000));
    t = performance.now();
    for (let i = 0; i < order.length; i++) found += map.get(keys[order[i]]).length;
    samples.map.push(order.length / ((performance.now() - t) / 1000));
    if (found < order.length) throw new Error('the bare index lost a key');
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { bareHas: median(samples.bare), mapGet: median(samples.map) };
}
