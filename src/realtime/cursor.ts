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
// Receipts are not sequenced and carry no cursor.
import { OncelyError } from '../errors.js';

const version = 'v1';

export function encodeCursor(pos: number): string {
  return Buffer.from(`${version}:${pos}`).toString('base64url');
}

/** The stream position of a cursor; throws `400 invalid_cursor` for anything we did not issue. */
export function decodeCursor(cursor: string): number {
  const text = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const match = /^v1:(\d{1,15})$/.exec(text);
  if (!match) throw OncelyError.of('invalid_cursor', 'the cursor is not one this server issued');
  return Number(match[1]);
}
