/** The file format as data and pure functions: for tools and tests that read files without opening a store. */
export * from './layout.js';
export * from './header.js';
export * from './record.js';
export * from './fields.js';
export * from './rules.js';
export { xxh32 } from './xxh32.js';
export * as v1 from './v1.js';
