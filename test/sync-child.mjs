// For durability.test.mjs, run under strace: makes each kind of change, writing a marker line to stderr before
// each, so that the parent can count the msync calls each one made.
import { writeSync } from 'node:fs';
import { DataStore } from 'slabkv';

const mark = (name) => writeSync(2, `@@${name}\n`);
const flushing = new DataStore(process.argv[2]);
const always = new DataStore(process.argv[2], { durability: 'always' });
flushing.create('first', { n: 0 }); // marks the file open, which syncs the header
mark('flush: create');
flushing.create('a', { n: 1 });
mark('flush: transaction');
flushing.transaction(() => flushing.set('b', { n: 2 }));
mark('always: create');
always.create('c', { n: 3 });
mark('always: transaction');
always.transaction(() => { always.set('d', { n: 4 }); always.delete('a'); });
mark("flush: transaction with a change through an 'always' handle");
flushing.transaction(() => { flushing.set('e', { n: 5 }); always.set('f', { n: 6 }); });
mark('flush: transaction after it');
flushing.transaction(() => flushing.set('g', { n: 7 }));
mark('end');
always.close();
flushing.close();
