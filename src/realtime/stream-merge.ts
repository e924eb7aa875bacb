// The streams of one page of a user's stream, and how the answers of several statements make one page. Pure
// logic; the reader runs the statements.
//
// Why this shape: a user's stream is the union of her conversations' streams, each already ordered by the
// (app_id, conversation_id, pos) index. One statement reads them all forward from the cursor and merges them
// in position order (a compound select ordered by position: each part is read lazily from the index, so it
// stops once the page is full), which costs O(page + memberships × log n) however large the app's history is;
// a join of memberships to events would visit every later event of every conversation she is in, then sort
// them, for every page.

/** One conversation's part of the page: positions `after < pos <= to` (a membership period, up to the head). */
export interface MergeStream {
  conversationId: string;
  after: number;
  to: number;
}

/** The streams still open after position `after`, each starting no earlier than it. */
export function streamsAfter(streams: readonly MergeStream[], after: number): MergeStream[] {
  const open: MergeStream[] = [];
  for (const s of streams) {
    const from = Math.max(s.after, after);
    if (s.to > from) open.push({ conversationId: s.conversationId, after: from, to: s.to });
  }
  return open;
}

export interface MergedPage<T> {
  items: T[];
  /** Every event of the user with a position up to here is in this page or an earlier one. */
  through: number;
  /** Whether events may follow `through` (the page was cut at `limit`). */
  more: boolean;
}

/**
 * One page from the answers of several statements (a user in more conversations than one statement reads),
 * each the first `limit` events of its streams in position order, all up to `head`. A statement that
 * answered `limit` events may have more past its last one: the page only holds events up to the least such
 * last position, which is complete there (that statement alone gives `limit` events up to it).
 */
export function combine<T extends { pos: number }>(
  answers: T[][],
  limit: number,
  head: number,
): MergedPage<T> {
  if (answers.length === 1) {
    const items = answers[0]!;
    return items.length < limit
      ? { items, through: head, more: false }
      : { items, through: items.at(-1)!.pos, more: true };
  }
  let bound = Number.POSITIVE_INFINITY;
  for (const rows of answers) if (rows.length >= limit) bound = Math.min(bound, rows.at(-1)!.pos);
  const known = answers
    .flat()
    .filter((r) => r.pos <= bound)
    .sort((a, b) => a.pos - b.pos);
  if (known.length < limit) return { items: known, through: head, more: false };
  const items = known.slice(0, limit);
  return { items, through: items.at(-1)!.pos, more: true };
}
