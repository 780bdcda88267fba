/**
 * How KeyvSlabkv maps a Keyv key (its namespace, a colon, the caller's key: often a URL of hundreds of characters)
 * into slabkv's key limit of 32 characters.
 *
 * A key of 1 to 32 UTF-16 code units, well-formed, that does not start with `#` is its own slabkv key: short keys
 * stay readable (`slabkv get keyv:user:1`). Every other key becomes `#`, 5 characters that tag its namespace (the
 * text before its first colon) and 26 that hash the whole key: SHA-256 in base64url, 30 and 156 bits. The two forms
 * never meet (only hashed keys start with `#`), and the record keeps the original key, which every read checks, so
 * two keys that hash alike never see each other's value: the second one written replaces the first.
 */
import { createHash } from 'node:crypto';
import { MAX_KEY_CHARS } from '../format/layout.js';

const HASHED = '#';
const TAG_CHARS = 5;
const HASH_CHARS = MAX_KEY_CHARS - HASHED.length - TAG_CHARS;

/** keyvStoreKey returns the slabkv key under which KeyvSlabkv keeps the value of a Keyv key (namespace included). */
export function keyvStoreKey(key: string): string {
  if (typeof key !== 'string') throw new TypeError(`a Keyv key must be a string; got ${typeof key}`);
  if (key.length > 0 && key.length <= MAX_KEY_CHARS && key[0] !== HASHED && key.isWellFormed()) return key;
  return namespaceTag(namespaceOf(key)) + digest(key).slice(0, HASH_CHARS);
}

/**
 * namespaceKeys returns what the slabkv keys of a namespace's Keyv keys start with: `ns:` for those kept as they
 * are, and the tag of hashed ones. A hashed key with the tag may belong to another namespace with the same tag: its
 * record's original key tells.
 */
export function namespaceKeys(namespace: string): { plain: string; hashed: string } {
  const plain = `${namespace}:`;
  return { plain, hashed: namespaceTag(namespaceOf(plain)) };
}

/** namespaceOf is the text before the key's first colon, as Keyv writes `namespace:key`; '' without a colon. */
function namespaceOf(key: string): string {
  const colon = key.indexOf(':');
  return colon < 0 ? '' : key.slice(0, colon);
}

function namespaceTag(namespace: string): string {
  return HASHED + digest(namespace).slice(0, TAG_CHARS);
}

/** digest hashes the string's UTF-16 code units, so that strings with different lone surrogates differ too. */
function digest(text: string): string {
  return createHash('sha256').update(Buffer.from(text, 'utf16le')).digest('base64url');
}
