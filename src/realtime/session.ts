// One realtime session, whatever carries it: the rules a connection lives by are here once — who it is (its
// token, until that expires or a fresh one replaces it), ready and resume (or the short hold for a first
// `resume` frame), the frames a client sends, the slow-consumer cut — and a transport (WebSocket, SSE) only
// moves the bytes. Sessions (sessions.ts) admit them, count them and keep them alive.
import { closeCodes } from '../../client/close-codes.js';
import type { UserPrincipal } from '../apps/principal.js';
import { OncelyError, type ErrorCode } from '../errors.js';
import type { ConnectionRelease } from './connection-registry.js';
import { parseClientFrame, type ClientFrame, type FrameProblem, type ServerFrame } from './frames.js';
import type { Delivery, ReceiptDelivery, SignalBatch } from './deliveries.js';
import type { SessionContext } from './sessions.js';
import type { Subscription } from './subscription.js';
import { watchExpiry, type ExpiryWatch } from './token-expiry.js';

/** What carries a session: Write, Close, and what the session needs to know about the peer. */
export interface Transport {
  /** The metric label. */
  readonly name: 'websocket' | 'sse';
  /** Whether the peer answers pings (WebSocket pong): a silent one is then dropped by the heartbeat. */
  readonly answersPings: boolean;
  /** Writes one server frame; a sequenced one comes with its cursor (SSE writes it as the `id:` line). */
  write(frame: Buffer, cursor?: string): void;
  /**
   * Writes typing or presence frames, named by `event` (SSE's `event:`; no `id:` that would move
   * Last-Event-ID). The same array comes to every connection that gets these frames: encode it once.
   */
  signals(frames: readonly Buffer[], event: 'typing' | 'presence'): void;
  /** Bytes written that the peer has not taken yet. */
  buffered(): number;
  /** A keep-alive: a WebSocket ping, an SSE comment. */
  ping(): void;
  /** Ends the connection; `code` is the WebSocket close code (README "Close codes"). */
  close(code: number, reason: string): void;
  /** Cuts it without a goodbye (a reader that never drains, a peer that stopped answering). */
  terminate(): void;
  /** The end of a turn of the event loop: what was written in it may leave now, in one write. */
  flush?(): void;
}

/** A user let in: its token checked, its place in the connection limit held, its resume cursor read. */
export interface Admission {
  user: UserPrincipal;
  place: ConnectionRelease;
  /** The position to resume after, when the client gave a cursor. */
  resumeFrom: number | undefined;
  /** The client's address (the rate limits of a later `auth` frame count against it). */
  address: string;
}

const frameOf = (frame: ServerFrame) => Buffer.from(JSON.stringify(frame));
const expiredMessage =
  'the token has expired: send {"type":"auth","token"} with a fresh one before it does, or reconnect';

/** The close code that goes with a refusal: from the close-code table, 1011 for anything it does not name. */
export function closeCodeFor(code: string): number {
  return (
    Object.values(closeCodes).find((m) => (m.errorCodes as readonly string[]).includes(code))?.code ??
    closeCodes.internalError.code
  );
}

export class Session {
  user: UserPrincipal | undefined;
  /** Set by any sign of the peer; the heartbeat clears it and drops the session if it stays clear. */
  alive = true;
  ended = false;
  private place: ConnectionRelease | undefined;
  private expiry: ExpiryWatch | undefined;
  private subscription: Subscription | undefined;
  /** Until the first frame (or the grace time), live events are held: the first frame may be a resume. */
  private holding = false;
  /** Resolves when the session is ready for frames (false: it was refused). */
  private ready: Promise<boolean> = Promise.resolve(false);
  /** Set while the session waits for its `auth` frame (a WebSocket opened without `?token=`). */
  private authFrame: ((token: string) => void) | undefined;
  private authTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ctx: SessionContext,
    readonly transport: Transport,
    readonly address: string,
  ) {}

  /** A WebSocket: authenticates from the URL's token, or waits for the `auth` frame. */
  connect(token: string | undefined, cursor: string | undefined): void {
    if (token !== undefined) {
      this.ready = this.authenticate(token, cursor);
      return;
    }
    const timeoutMs = this.ctx.options.authTimeoutMs;
    this.authTimer = setTimeout(
      () =>
        this.refuse(OncelyError.of('auth_timeout', `send {"type":"auth","token"} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.ready = new Promise<string>((resolve) => (this.authFrame = resolve)).then((t) => {
      clearTimeout(this.authTimer);
      return this.authenticate(t, cursor);
    });
  }

  /** Goes live (SSE, or a WebSocket once admitted): `ready`, then the replay from the cursor or the hold. */
  async start(admission: Admission, holdForResume: boolean): Promise<boolean> {
    const { user, place, resumeFrom } = admission;
    if (this.ended) {
      place();
      return false;
    }
    this.user = user;
    this.place = place;
    this.ctx.opened(this);
    this.expiry = watchExpiry(this.ctx.clock, user.expiresAt, () =>
      this.refuse(OncelyError.of('token_expired', expiredMessage)),
    );
    const { realtime, options } = this.ctx;
    const subscription = realtime.subscribe(user.appId, user.userId, {
      event: (d: Delivery) => this.write(d.frame, d.cursor),
      receipt: (r: ReceiptDelivery) => this.write(r.frame),
      signal: (batch: SignalBatch) => this.signals(batch),
      full: () => this.transport.buffered() > options.sendBufferLimitBytes / 2,
      drained: () => this.drained(),
      overflow: () => this.cutSlow(),
    });
    this.subscription = subscription;
    let now: number;
    try {
      now = await subscription.start();
    } catch (err) {
      this.failed(err);
      return false;
    }
    if (this.ended) return false;
    // `ready` carries "now" (DESIGN: live events come from there). It is also SSE's first `id:` unless a
    // replay follows: Last-Event-ID must not pass events still to be replayed.
    const ready = frameOf({ type: 'ready', userId: user.userId, cursor: realtime.cursor(now) });
    this.write(ready, resumeFrom === undefined ? realtime.cursor(now) : undefined);
    if (resumeFrom !== undefined) subscription.resume(resumeFrom).catch((err: unknown) => this.failed(err));
    else if (!holdForResume) subscription.goLive();
    else {
      // A client that resumes sends `resume` as its first frame; one that does not gets live events from
      // `ready` once it sends anything or after a short grace (held, not lost, meanwhile).
      this.holding = true;
      setTimeout(() => this.release(), options.resumeGraceMs).unref();
    }
    return true;
  }

  /** A frame from the client (WebSocket). */
  receive(data: string | undefined): void {
    this.alive = true;
    const parsed: { frame: ClientFrame } | FrameProblem =
      data === undefined ? { problem: 'frames are JSON text' } : parseClientFrame(data);
    if ('problem' in parsed) return this.error('invalid_frame', parsed.problem, parsed.clientMsgId);
    const frame = parsed.frame;
    if (this.authFrame) {
      if (frame.type !== 'auth')
        return this.refuse(OncelyError.of('auth_required', 'the first frame must be auth'));
      const resolve = this.authFrame;
      this.authFrame = undefined;
      return resolve(frame.token);
    }
    // Frames that arrive while the token is checked wait for it, in order (a resume sent right after
    // opening is handled before anything goes live).
    void this.ready.then((ok) => (ok ? this.handle(frame) : undefined));
  }

  /** Refuses or ends the session with an `error` frame and the close code of its error. */
  refuse(error: OncelyError): void {
    if (this.ended) return;
    this.ctx.metrics.realtimeDisconnects.inc({ reason: error.code });
    this.write(frameOf({ type: 'error', code: error.code, message: error.message }));
    this.end(closeCodeFor(error.code), error.code);
  }

  /** Ends the session from this side (the transport closes), e.g. going away at shutdown. */
  end(code: number, reason: string): void {
    if (this.ended) return;
    this.transport.close(code, reason);
    this.closed();
  }

  /** The transport is gone: release everything the session holds. Safe to call more than once. */
  closed(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.authTimer);
    this.expiry?.close();
    this.subscription?.close();
    this.place?.();
    this.ctx.closed(this);
  }

  write(frame: Buffer, cursor?: string): void {
    if (this.ended) return;
    this.transport.write(frame, cursor);
    this.ctx.written(this);
  }

  private signals(batch: SignalBatch): void {
    if (this.ended) return;
    this.transport.signals(batch.frames, batch.type);
    this.ctx.written(this);
  }

  /** Past the send-buffer limit: the reader is too slow. It reconnects and resumes; nothing is lost. */
  cutSlow(): void {
    if (this.ended) return;
    this.ctx.logger.warn(
      { userId: this.user?.userId, buffered: this.transport.buffered(), transport: this.transport.name },
      'realtime reader too slow; closing',
    );
    this.refuse(OncelyError.of('slow_consumer', 'the reader fell behind: resume from the last cursor'));
    // The close waits behind the unread data; a reader that never drains is cut off.
    setTimeout(() => this.transport.terminate(), 5_000).unref();
  }

  private async authenticate(token: string, cursor: string | undefined): Promise<boolean> {
    let admission: Admission;
    try {
      admission = await this.ctx.admit({ token, address: this.address, cursor });
    } catch (err) {
      this.refuse(
        err instanceof OncelyError ? err : OncelyError.of('invalid_token', 'the token is not valid'),
      );
      return false;
    }
    return this.start(admission, true);
  }

  /** The store failed under the session: close it (1011) so the client reconnects and resumes. */
  private failed(err: unknown): void {
    this.ctx.logger.error({ err, userId: this.user?.userId }, 'realtime stream failed');
    this.ctx.metrics.realtimeDisconnects.inc({ reason: 'internal_error' });
    this.end(closeCodes.internalError.code, 'internal_error');
  }

  /** Ends the hold: live from `ready`, unless the first frame was a resume. */
  private release(): void {
    if (!this.holding) return;
    this.holding = false;
    this.subscription?.goLive();
  }

  private async drained(): Promise<void> {
    // Transports have no common drain event; poll the buffered amount (bounded: the session ends eventually).
    while (!this.ended && this.transport.buffered() > this.ctx.options.sendBufferLimitBytes / 4) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** An `error` frame; the session stays open. Its code is a catalogued one (an OncelyError's, or named here). */
  private error(code: ErrorCode | OncelyError['code'], message: string, clientMsgId?: string): void {
    this.write(frameOf({ type: 'error', code, message, ...(clientMsgId ? { clientMsgId } : {}) }));
  }

  private async handle(frame: ClientFrame): Promise<void> {
    const user = this.user!;
    if (frame.type !== 'resume') this.release();
    const { realtime, frames } = this.ctx;
    try {
      switch (frame.type) {
        case 'ping':
          return this.write(frameOf({ type: 'pong' }));
        case 'auth':
          return await this.reauthenticate(user, frame.token);
        case 'resume': {
          const pos = await realtime.position(frame.cursor);
          this.holding = false;
          // A failed replay leaves the stream half-sent: close rather than continue with a hole.
          return await this.subscription!.resume(pos).catch((err: unknown) => this.failed(err));
        }
        case 'send': {
          const { conversationId, body, clientMsgId } = frame;
          // Keyed by clientMsgId in the user's scope, as a REST send with it: a retry over either is one message.
          const { result, duplicate } = await frames.ingest.sendAsActor({
            actor: user,
            conversationId,
            body,
            clientMsgId,
            source: 'ws',
          });
          // Invariant 2: `sent` only after the commit (the send resolves after it).
          return this.write(
            frameOf({ type: 'sent', clientMsgId, id: result.id, seq: result.seq, duplicate }),
          );
        }
        case 'receipt':
          await frames.receipts.update(user, frame.conversationId, {
            deliveredSeq: frame.deliveredSeq,
            readSeq: frame.readSeq,
          });
          return;
        case 'recall':
          await frames.recall.recall(user, frame.messageId);
          return;
        case 'typing':
          return await frames.typing.typing(user, frame.conversationId);
      }
    } catch (err) {
      const clientMsgId = frame.type === 'send' ? frame.clientMsgId : undefined;
      if (err instanceof OncelyError) return this.error(err.code, err.message, clientMsgId);
      this.ctx.logger.error({ err, frame: frame.type }, 'realtime frame failed');
      this.error('internal_error', 'internal error', clientMsgId);
    }
  }

  /** A fresh token for the same user moves the session's end to its expiry (13.8). */
  private async reauthenticate(user: UserPrincipal, token: string): Promise<void> {
    const p = await this.ctx.principalOf(token, this.address);
    if (p.kind !== 'user' || p.appId !== user.appId || p.userId !== user.userId) {
      throw OncelyError.of('token_user_mismatch', 'a fresh token must be one of the same user');
    }
    this.expiry?.renew(p.expiresAt);
    this.write(
      frameOf({
        type: 'authenticated',
        userId: p.userId,
        ...(p.expiresAt !== undefined ? { expiresAt: new Date(p.expiresAt).toISOString() } : {}),
      }),
    );
  }
}
