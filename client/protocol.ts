// The wire shapes the client library speaks: events, receipts and WebSocket frames, as docs/design.md and
// the README describe them. Types only, so the library carries no server code.

export type MessageBody = { type: 'text'; text: string } | { type: 'custom'; data: unknown };

export type EventType = 'message.created' | 'message.recalled' | 'member.added' | 'member.removed';

/** A sequenced event of a conversation, as history, sync and the WebSocket show it. */
export interface WireEvent {
  id: string;
  type: EventType;
  conversationId: string;
  seq: number;
  senderId: string | null;
  body: MessageBody | null;
  clientMsgId?: string;
  createdAt: string;
  recalled?: boolean;
  recalledAt?: string;
  /** message.recalled: the message recalled. */
  messageId?: string;
  /** member.added / member.removed: the member. */
  userId?: string;
}

/** A change of one member's delivered/read markers (not sequenced). */
export interface Receipt {
  conversationId: string;
  userId: string;
  deliveredSeq: number;
  readSeq: number;
}

/** The answer to a send: the message as stored; `duplicate` when the clientMsgId was seen before. */
export interface SentAnswer {
  clientMsgId: string;
  id: string;
  seq: number;
  duplicate: boolean;
}

export type ClientFrame =
  | { type: 'auth'; token: string }
  | { type: 'send'; clientMsgId: string; conversationId: string; body: MessageBody }
  | { type: 'resume'; cursor: string }
  | { type: 'receipt'; conversationId: string; deliveredSeq?: number; readSeq?: number }
  | { type: 'recall'; messageId: string }
  | { type: 'ping' };

export type ServerFrame =
  | { type: 'ready'; userId: string; cursor: string }
  | { type: 'event'; event: WireEvent; cursor: string }
  | { type: 'receipt.updated'; receipt: Receipt }
  | ({ type: 'sent' } & SentAnswer)
  | { type: 'error'; code: string; message: string; clientMsgId?: string }
  | { type: 'pong' };

/** WebSocket close codes the server uses (README "Realtime"). */
export const CloseCodes = {
  /** Server shutting down: reconnect (to another instance, or after the restart). */
  goingAway: 1001,
  /** The client fell behind: its send buffer passed the limit. Reconnect and resume. */
  slowConsumer: 4008,
  /** The token was missing, forged or expired, or no auth frame came in time. */
  unauthorized: 4401,
  /** The user already has the most connections allowed; this new one was refused. */
  tooManyConnections: 4429,
  /** The `?cursor=` on the URL is not one this server issued (a reset server): drop it and reconnect. */
  invalidCursor: 4400,
} as const;
