/**
 * Transaction: the changes one thread makes to a store between the start of a change and its commit or undo, and
 * the operations that make them (spec section 8, "Transactions"). Every change goes through one: a lone create or
 * delete as a direct change (one store makes the record live or free, and that store is its commit), everything
 * else journaled.
 *
 * A journaled change never frees what it replaces or deletes until it commits. It writes new records as
 * RECORD_UNCOMMITTED and marks the records it replaces or deletes RECORD_SUPERSEDED, keeping the index as it will be
 * after the commit, so that reads inside the transaction see its own changes. The journal lists those records.
 * Commit is one store: the header's commit field says COMMIT_DONE; then each journaled record is settled (made
 * live, or freed) and the field goes back to COMMIT_NONE. A process that dies before the commit store leaves a
 * file that recovery rolls back (state 2 freed, state 3 live again); one that dies after it, a file that recovery
 * rolls forward. Undo walks the journal backwards, so a savepoint (a nested transaction) is a journal length.
 *
 * Nothing here takes the lock or marks the file: the caller (SharedStore.write) brackets every transaction.
 */
import { COMMIT_DONE, COMMIT_NONE, Header, RECORD_LIVE, RECORD_SUPERSEDED, RECORD_UNCOMMITTED } from '../format/layout.js';
import { headerField, recordState, setHeaderField } from '../format/fields.js';
import { isExpired } from '../format/rules.js';
import { KeyBuffer } from '../table/key-buffer.js';
import { DataStoreError } from '../errors.js';
import { crashPoint } from './crash-points.js';

/**
 * A journal entry is a record's offset, a multiple of 8; this bit marks a record the transaction wrote and then
 * retired inside a nested change (see #drop).
 */
const RETIRED = 1;
import type { Table } from '../table/table.js';
import type { MappedFile } from './mapped-file.js';

export class Transaction {
  /** Records written (state 2) or superseded (state 3) by this transaction, in order. */
  #journal = new Uint32Array(1024);
  #length = 0;
  /**
   * Records released within the transaction (releaseRetired), each with the journal's length at its release: an
   * entry of one below that length is stale, as its chunk may since hold another record or lie in a span of
   * another kind or size class. Settle and undo skip such entries.
   */
  readonly #releasedBefore = new Map<number, number>();
  /** Nesting depth: 0 outside a transaction, 1 in the outermost, more in nested ones (savepoints). */
  depth = 0;
  /** true while the change is one create or delete outside any transaction: made directly, not journaled. */
  direct = false;
  /** Time of the outermost change: every expiry inside one transaction is judged at one instant. */
  now = 0;
  /** A handle of durability 'always' made a change inside this transaction: its commit is synced step by step. */
  mustSync = false;
  /**
   * The error that broke this transaction: damage met, or an error of slabkv's own (a bug) thrown halfway through an
   * operation, which may have left it half made. A broken transaction is neither committed nor undone: the store is
   * marked damaged (FILE_CORRUPT) or rebuilt by the next call, as after a crash (write-path.ts).
   */
  broken: unknown = null;
  /** A key buffer for undo, which reads keys back from records. */
  readonly #undoKey = new KeyBuffer();

  constructor(private readonly table: Table, private readonly file: MappedFile) {}

  /** savepoint is the journal's length: undo(savepoint) undoes what came after it. */
  get savepoint(): number {
    return this.#length;
  }

  get changes(): number {
    return this.#length;
  }

  // ---- reads ----

  /** find returns the bucket of key's record if it is live at this transaction's time, else 0. */
  find(key: KeyBuffer): number {
    const table = this.table;
    const bucket = table.find(key);
    if (bucket === 0 || isExpired(table.expiresAt(table.recordIn(bucket)), this.now)) return 0;
    return bucket;
  }

  /** text returns the JSON text of the value in a bucket find returned, its checksum checked. */
  text(bucket: number): string {
    const record = this.table.recordIn(bucket);
    this.table.checkChecksum(record);
    return this.table.valueText(record);
  }

  expiresAt(bucket: number): number {
    return this.table.expiresAt(this.table.recordIn(bucket));
  }

  // ---- changes ----

  /** create adds key, which must not be live: KEY_EXISTS if it is. An expired record of the key is reclaimed. */
  create(key: KeyBuffer, keyText: string, json: string, bytes: number, expiresAt: number): void {
    try {
      const table = this.table;
      const bucket = table.findOrHole(key);
      if (bucket > 0) {
        if (!isExpired(table.expiresAt(table.recordIn(bucket)), this.now)) {
          throw new DataStoreError('KEY_EXISTS', `key ${JSON.stringify(keyText)} already exists`);
        }
        this.#drop(bucket);
      }
      this.#insert(key, json, bytes, expiresAt, bucket < 0 ? bucket : 0);
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /** set adds key or replaces its value. The replaced record stays whole until the commit. */
  set(key: KeyBuffer, json: string, bytes: number, expiresAt: number): void {
    try {
      const bucket = this.table.findOrHole(key);
      if (bucket > 0) this.#drop(bucket);
      this.#insert(key, json, bytes, expiresAt, bucket < 0 ? bucket : 0);
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /** delete removes key, which must be live: KEY_NOT_FOUND if it is not. */
  delete(key: KeyBuffer, keyText: string): void {
    try {
      const bucket = this.find(key);
      if (bucket === 0) throw new DataStoreError('KEY_NOT_FOUND', `key ${JSON.stringify(keyText)} does not exist`);
      this.#drop(bucket);
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /**
   * clear removes every record: each live one superseded (kept whole until the commit), each written by this
   * transaction freed, then the index emptied at once. O(records), with no index work per record.
   */
  clear(): void {
    try {
      const table = this.table;
      table.empty((record) => {
        if (this.direct) table.free(record);
        else if (!table.isUncommitted(record)) this.#push(table.markSuperseded(record));
        else if (this.depth > 1) this.#push(table.markRetired(record) | RETIRED);
        else table.free(record);
      });
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /**
   * #drop takes the record in a bucket out. An expired record is freed (absent before and after); one live before
   * the transaction is superseded. One the transaction wrote itself is freed when no savepoint lies behind it (the
   * outermost level); inside a nested change it is retired: free on disk (so that any crash frees it) but kept off
   * the free lists until the commit, so that undoing the nested change can bring it back.
   */
  #drop(bucket: number): void {
    const table = this.table;
    const record = table.recordIn(bucket);
    if (this.direct || isExpired(table.expiresAt(record), this.now)) table.remove(bucket);
    else if (!table.isUncommitted(record)) this.#push(table.supersede(bucket));
    else if (this.depth > 1) this.#push(table.retire(bucket) | RETIRED);
    else table.remove(bucket);
  }

  /** #insert writes key's new record; `hole`, from findOrHole, if the index has not changed since (else 0). */
  #insert(key: KeyBuffer, json: string, bytes: number, expiresAt: number, hole: number): void {
    if (this.direct) this.table.insert(key, json, bytes, expiresAt, RECORD_LIVE, hole);
    else this.#push(this.table.insert(key, json, bytes, expiresAt, RECORD_UNCOMMITTED, hole));
  }

  /** #failed notes an error that breaks the transaction (see broken); a refusal (made before any write) does not. */
  #failed(error: unknown): unknown {
    if (!(error instanceof DataStoreError) || error.code === 'FILE_CORRUPT') this.broken ??= error;
    return error;
  }

  /**
   * releaseRetired frees the records retired since the savepoint, when the change that retired them has returned
   * to the outermost level: no savepoint is left that could restore them (undo(0) takes back the records they
   * replaced as well), so their space is reused at once rather than at the commit. Their chunks are free on disk
   * already; their entries leave the journal, and the entries that wrote them, which may lie anywhere before, are
   * noted stale (#releasedBefore): once the chunk is reused, perhaps by a span of another size class, its offset
   * need not start a record any more.
   */
  releaseRetired(savepoint: number): void {
    const journal = this.#journal;
    let end = savepoint;
    for (let i = savepoint; i < this.#length; i++) if ((journal[i]! & RETIRED) === 0) end++;
    try {
      let kept = savepoint;
      for (let i = savepoint; i < this.#length; i++) {
        const entry = journal[i]!;
        if ((entry & RETIRED) === 0) {
          journal[kept++] = entry;
        } else {
          this.table.release(entry & ~RETIRED);
          this.#releasedBefore.set(entry & ~RETIRED, end);
        }
      }
    } catch (error) {
      throw this.#failed(error); // the journal is half compacted: the transaction cannot be undone from it
    }
    this.#length = end;
  }

  /** isStale: the journal entry at index names a record released since (releaseRetired). */
  #isStale(record: number, index: number): boolean {
    const releasedBefore = this.#releasedBefore;
    return releasedBefore.size !== 0 && index < (releasedBefore.get(record) ?? 0);
  }

  #push(record: number): void {
    if (this.#length === this.#journal.length) {
      const larger = new Uint32Array(this.#journal.length * 2);
      larger.set(this.#journal);
      this.#journal = larger;
    }
    this.#journal[this.#length++] = record;
  }

  // ---- the end ----

  /**
   * commit makes the journaled changes one: the commit store, then each record settled, then the field cleared.
   * With `sync`, each step reaches the disk before the next can (spec section 10, "A transaction"): the records,
   * then the commit field, then the settled records, then the cleared field.
   */
  commit(sync: boolean): void {
    const n = this.#length;
    if (n === 0) return;
    const { table, file } = this;
    const w = file.words;
    if (sync) file.flush();
    setHeaderField(w, Header.commit, COMMIT_DONE);
    crashPoint('commit.marked');
    if (sync) file.flushHeader();
    const journal = this.#journal;
    for (let i = 0; i < n; i++) {
      const entry = journal[i]!;
      if (this.#isStale(entry & ~RETIRED, i)) { /* written and released within the transaction */ }
      else if ((entry & RETIRED) !== 0) table.release(entry & ~RETIRED);
      else table.settle(entry);
      if (i === 0) crashPoint('commit.settling');
    }
    crashPoint('commit.settled');
    if (sync) file.flush();
    setHeaderField(w, Header.commit, COMMIT_NONE);
    crashPoint('commit.cleared');
    if (sync) file.flushHeader();
    this.#length = 0;
    this.#shrink();
  }

  /** reset forgets a broken transaction's journal: what it did is left to repair or to a rebuild. */
  reset(): void {
    this.#length = 0;
    this.broken = null;
    this.#shrink();
  }

  /** undo takes back every change after the savepoint, last first: records written are removed, superseded ones restored. */
  undo(savepoint: number): void {
    const table = this.table;
    const w = this.file.words;
    const journal = this.#journal;
    for (let i = this.#length - 1; i >= savepoint; i--) {
      const entry = journal[i]!;
      const record = entry & ~RETIRED;
      const state = recordState(w, record);
      if (this.#isStale(record, i)) { /* written and released within the transaction */ }
      else if ((entry & RETIRED) !== 0) table.restore(record, this.#undoKey, RECORD_UNCOMMITTED);
      else if (state === RECORD_UNCOMMITTED) table.discard(record, this.#undoKey);
      else if (state === RECORD_SUPERSEDED) table.restore(record, this.#undoKey);
      this.#length = i; // what is undone leaves the journal at once: an undo cut short by damage is not done twice
      crashPoint('undo.undoing');
    }
    if (savepoint === 0) this.#shrink();
  }

  /**
   * undoAfterDamage takes back what a transaction broken by damage changed, as far as the damage lets it, so that
   * until the repair (which undoes the rest: commit is 0) readers do not see records it never committed. A
   * transaction that reached its commit store is left alone: it is committed, and the repair completes it.
   */
  undoAfterDamage(): void {
    if (headerField(this.file.words, Header.commit) !== COMMIT_NONE) return;
    try {
      this.undo(0);
    } catch { /* what damage stopped is the repair's */ }
  }

  /** A journal grown for a large transaction, and the records it released, are let go once it ends. */
  #shrink(): void {
    if (this.#releasedBefore.size !== 0) this.#releasedBefore.clear(); // clear() on an empty Map still allocates
    if (this.#journal.length > 1024) this.#journal = new Uint32Array(1024);
  }

  /** isClean: no journaled change is pending, and the file says no commit is under way. */
  isSettled(): boolean {
    return this.#length === 0 && headerField(this.file.words, Header.commit) === COMMIT_NONE;
  }
}
