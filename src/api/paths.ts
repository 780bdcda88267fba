/** Where the default store lives, and how a given path is turned into the one name of its file. */
import { mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { DataStoreError, ioError } from '../errors.js';

export const DEFAULT_FOLDER = 'slabkv';
export const DEFAULT_FILE = 'default.slabkv';

/**
 * userDataDir is the per-user data directory: $XDG_DATA_HOME or ~/.local/share on Linux and other Unix systems,
 * ~/Library/Application Support on macOS, %LOCALAPPDATA% on Windows.
 */
export function userDataDir(): string {
  const home = (require('node:os') as typeof import('node:os')).homedir(); // required here: only the default path needs it
  if (process.platform === 'darwin') return join(home, 'Library', 'Application Support');
  if (process.platform === 'win32') return process.env['LOCALAPPDATA'] || join(home, 'AppData', 'Local');
  const xdg = process.env['XDG_DATA_HOME'];
  // The XDG spec says a relative value is invalid and must be ignored.
  return xdg && isAbsolute(xdg) ? xdg : join(home, '.local', 'share');
}

/** defaultStorePath creates the default folder (mode 0700) when missing and returns the default file's path. */
export function defaultStorePath(): string {
  const folder = join(userDataDir(), DEFAULT_FOLDER);
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw ioError(`cannot create the default folder ${folder}`, cause);
  }
  return join(folder, DEFAULT_FILE);
}

/**
 * resolveStoreFile returns the real path of the store file, symlinks resolved, so that two names for one file
 * open one store. A file that does not exist yet is named in the real path of its folder, which must exist; the
 * file itself is created when the store is opened.
 */
export function resolveStoreFile(given: string): string {
  if (typeof given !== 'string' || given.length === 0) {
    throw new DataStoreError('OPTION_INVALID', 'path must be a non-empty string');
  }
  // resolve would drop a trailing slash, and so open a file where the caller named a folder.
  if (given.endsWith('/') || given.endsWith(sep)) throw new DataStoreError('FILE_INVALID', `${given} names a folder, not a slabkv file`);
  const absolute = resolve(given);
  try {
    return realpathSync.native(absolute);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot open ${absolute}`, cause);
  }
  try {
    return join(realpathSync.native(dirname(absolute)), basename(absolute));
  } catch (cause) {
    throw ioError(`cannot open ${absolute}`, cause);
  }
}
