export { KeyvSlabkv, type KeyvSlabkvEntry } from './keyv-store.js';
export { keyvStoreKey } from './key-map.js';
