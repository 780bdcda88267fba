/**
 * Crash points: named instants of the file's lifecycle at which a test can have the process kill itself with
 * SIGKILL, to check what the next open makes of the file left at exactly that instant (the way SQLite's and
 * FoundationDB's fault injection name theirs). Armed by the environment variable SLABKV_CRASH_POINT, as `name` (the
 * first time the point is reached) or `name@n` (the n-th time). Unarmed, a point costs one comparison.
 */
export type CrashPoint =
  | 'create.allocated' // a new store's file has its blocks, all zeros
  | 'create.written' // the new store is written and synced but for its first byte
  | 'upgrade.written' // the new store is written and synced under its temporary name; the version 1 file in place
  | 'upgrade.backup' // the version 1 file is linked as its backup (something could not be carried over); not replaced
  | 'upgrade.placed' // the new store has replaced the version 1 file; the folder not synced
  | 'free.punched' // a span given back as FREE has had its blocks after the first page punched
  | 'mark-open.state' // state = open is set in memory; the open mark not yet written, nothing synced
  | 'change.busy' // busy = 1 is set; the change not yet made
  | 'commit.marked' // a transaction's records are written (state 2 and 3) and the header says COMMIT_DONE; none settled
  | 'commit.settling' // the first of a transaction's records is settled; the others not yet
  | 'commit.settled' // every record of the transaction is settled; the header still says COMMIT_DONE
  | 'commit.cleared' // the header says COMMIT_NONE again, every record settled; busy still 1
  | 'undo.undoing' // the last change of a transaction whose function threw is undone; the earlier ones not yet
  | 'repair.begun' // repair has written state = 2 and synced it; the file not yet given its length
  | 'repair.header' // repair has written the fixed fields, length and heapEnd anew; state still 2
  | 'repair.marked' // repair has set state = open and synced the header page; the rebuild not yet begun
  | 'grow.allocated' // the file has grown on disk; the header's fileSize not yet raised
  | 'seal.released' // close has given back the blocks of free spans and of the tail; nothing synced yet
  | 'seal.flushed' // close has synced every page; the header still says open
  | 'seal.unmarked' // close has cleared the open mark; checksum and state not yet written
  | 'seal.checksum' // close has written the closed checksum; state still open
  | 'seal.state' // close has set state = clean; the header page not yet synced
  | 'backup.copied' // a backup's bytes are copied under its temporary name, the store's lock let go; not yet sealed
  | 'backup.written' // the backup is sealed and synced under its temporary name; nothing at the target yet
  | 'backup.placed'; // the backup is linked at the target, and still under its temporary name; folder not synced

const armed = process.env['SLABKV_CRASH_POINT'];
const [armedName, armedCount] = armed === undefined ? [undefined, 0] : [armed.split('@')[0], Number(armed.split('@')[1] ?? 1)];
let reached = 0;

export function crashPoint(name: CrashPoint): void {
  if (name !== armedName) return;
  if (++reached === armedCount) process.kill(process.pid, 'SIGKILL');
}
