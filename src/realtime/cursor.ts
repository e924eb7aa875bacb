// Cursors: the opaque position of a device in its user's event stream, shared by WebSocket, long-poll and
// SSE. A cursor encodes one global stream position (`events.pos`); "after the cursor" means pos > it.
//
// Why a position, and why it never skips (invariant 3). Every event-appending transaction takes its `pos`
// by incrementing the single `counters` row (conversations/events.ts). That row's lock is held until
// commit, so a transaction that takes pos p+1 waits until the one holding p has committed: positions are
// handed out in commit order, and when pos p is visible every pos below it is visible too. A reader that
// has seen everything up to p can therefore never later meet a newly committed event below p. SQLite gets
// this for free (one writer at a time); on PostgreSQL it holds because the counter is a row lock, not a
// SEQUENCE — sequence values are taken without waiting and commit in any order, so a cursor built on one
// could pass an event that commits late. The counter update rolls back with its transaction, so positions
// are also gapless, which lets the realtime sequencer (sequencer.ts) wait for a missing one with certainty.
//
// Which stream (invariant 3 across databases). A position means something only in the database that issued
// it, so a cursor also carries the store's epoch (store/store-epoch.ts): a random name written once when the
// database is created and renewed when a copy is restored. A cursor of another database, or of this one
// before a restore, is refused with `invalid_cursor` (the client starts over) instead of being read as a
// position here, where it could skip events committed later.
//
// Receipts are not sequenced and carry no cursor.
import { OncelyError } from '../errors.js';

const version = 'v2';

/** Encodes and decodes the cursors of one store (one epoch). */
export class CursorCodec {
  constructor(readonly epoch: string) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(epoch)) throw new Error('a store epoch is 1-32 base64url characters');
  }

  encode(pos: number): string {
    return Buffer.from(`${version}:${this.epoch}:${pos}`).toString('base64url');
  }

  /** The stream position of a cursor; throws `400 invalid_cursor` for anything this store did not issue. */
  decode(cursor: string): number {
    const text = /^[A-Za-z0-9_-]{1,80}$/.test(cursor)
      ? Buffer.from(cursor, 'base64url').toString('utf8')
      : '';
    const match = /^v2:([A-Za-z0-9_-]{1,32}):(\d{1,15})$/.exec(text);
    if (!match)
      throw OncelyError.of(
        'invalid_cursor',
        'the cursor is not one this server issued; start over without one',
      );
    if (match[1] !== this.epoch) {
      throw OncelyError.of(
        'invalid_cursor',
        'the cursor is of another database, or of this one before a restore; start over without one',
      );
    }
    return Number(match[2]);
  }
}
