/** errnoError turns an errno from the addon into an Error with the `code` and `errno` Node gives its own. */
import * as os from 'node:os';

export function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  const code = errnoName(errno);
  return Object.assign(new Error(`${syscall}: ${code} (errno ${errno})`), { errno, code, syscall });
}

function errnoName(errno: number): string {
  const names = os.constants.errno as Record<string, number>;
  return Object.keys(names).find((name) => names[name] === errno) ?? `E${errno}`;
}
