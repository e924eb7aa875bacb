// Sends waiting for the server's answer. Each keeps its clientMsgId and is sent again on every new
// connection (or over HTTP on the long-poll) until answered, so it is created once whatever happens.
import { OncelyClientError } from './client-error.js';
import type { HttpApi } from './http-api.js';
import type { ClientFrame, SentAnswer, ServerFrame } from './protocol.js';

export type SendFrame = Extract<ClientFrame, { type: 'send' }>;

export interface PendingSend {
  frame: SendFrame;
  resolve: (answer: SentAnswer) => void;
  reject: (error: OncelyClientError) => void;
}

/** A fresh clientMsgId; random enough that two devices never pick the same one. */
export function newClientMsgId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

export class PendingSends {
  private readonly byId = new Map<string, PendingSend>();

  /**
   * Waits for the answer to `frame`; `dispatch` sends it if it is new. A send whose clientMsgId is already
   * waiting is not sent again: it shares that one's answer.
   */
  add(frame: SendFrame, dispatch: (p: PendingSend) => void): Promise<SentAnswer> {
    const existing = this.byId.get(frame.clientMsgId);
    if (existing) {
      return new Promise((resolve, reject) => {
        const { resolve: r0, reject: j0 } = existing;
        existing.resolve = (a) => (r0(a), resolve(a));
        existing.reject = (e) => (j0(e), reject(e));
      });
    }
    return new Promise((resolve, reject) => {
      const p: PendingSend = { frame, resolve, reject };
      this.byId.set(frame.clientMsgId, p);
      dispatch(p);
    });
  }

  values(): IterableIterator<PendingSend> {
    return this.byId.values();
  }

  /** The server's `sent` frame: the send it answers is done. */
  settle(frame: Extract<ServerFrame, { type: 'sent' }>): void {
    const p = this.byId.get(frame.clientMsgId);
    if (!p) return;
    this.byId.delete(frame.clientMsgId);
    p.resolve({ clientMsgId: frame.clientMsgId, id: frame.id, seq: frame.seq, duplicate: frame.duplicate });
  }

  /** Fails the send waiting under `clientMsgId`; false if none is. */
  fail(clientMsgId: string, error: OncelyClientError): boolean {
    const p = this.byId.get(clientMsgId);
    if (!p) return false;
    this.byId.delete(clientMsgId);
    p.reject(error);
    return true;
  }

  failAll(code: string, message: string): void {
    for (const p of this.byId.values()) p.reject(new OncelyClientError(code, message));
    this.byId.clear();
  }

  /** Sends over the REST API (the long-poll transport has no socket to send on). */
  async sendOverHttp(p: PendingSend, api: HttpApi): Promise<void> {
    const { conversationId, body, clientMsgId } = p.frame;
    try {
      // The REST send keys a user's message by its clientMsgId too: a retry over either transport is one message.
      const res = await api.request<{ id: string; seq: number }>(
        'POST',
        `/v1/conversations/${encodeURIComponent(conversationId)}/messages`,
        { body, clientMsgId },
      );
      if (!this.byId.has(clientMsgId)) return;
      this.byId.delete(clientMsgId);
      p.resolve({ clientMsgId, id: res.id, seq: res.seq, duplicate: false });
    } catch (err) {
      if (err instanceof OncelyClientError && err.status !== undefined && err.status < 500) {
        this.byId.delete(clientMsgId);
        p.reject(err);
      }
      // Network failure or 5xx: it stays pending and is retried on the next ready.
    }
  }
}
