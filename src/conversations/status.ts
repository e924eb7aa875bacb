// A message's status is derived, never stored per member (seed 004's per-member status rows do not scale):
// sent (it has a seq) → delivered (a recipient's deliveredSeq ≥ seq) → read (a recipient's readSeq ≥ seq),
// or recalled.

export type MessageStatus = 'sent' | 'delivered' | 'read' | 'recalled';

export interface RecipientMarkers {
  deliveredSeq: number;
  readSeq: number;
}

export interface DerivedStatus {
  status: MessageStatus;
  recipients: number;
  deliveredCount: number;
  readCount: number;
}

export function deriveStatus(seq: number, recalled: boolean, recipients: RecipientMarkers[]): DerivedStatus {
  // A read marker implies delivery even if the delivered marker lagged.
  const deliveredCount = recipients.filter((r) => Math.max(r.deliveredSeq, r.readSeq) >= seq).length;
  const readCount = recipients.filter((r) => r.readSeq >= seq).length;
  const status: MessageStatus = recalled
    ? 'recalled'
    : readCount > 0
      ? 'read'
      : deliveredCount > 0
        ? 'delivered'
        : 'sent';
  return { status, recipients: recipients.length, deliveredCount, readCount };
}
