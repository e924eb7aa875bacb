// The long-poll transport (`GET /v1/sync`): for networks where HTTP works but the WebSocket does not. The
// first request answers at once and opens the connection; each later one waits for events.
import { OncelyClientError } from './client-error.js';
import type { HttpApi } from './http-api.js';
import type { WireEvent } from './protocol.js';
import { claimsOf } from './token-claims.js';

export interface LongPollHandlers {
  /** The cursor to poll from. */
  cursor(): string | undefined;
  /** The user, if a WebSocket already named it. */
  userId(): string | undefined;
  /** The first answer came: the connection is open. */
  onOpen(userId: string, cursor: string): void;
  onAnswer(events: WireEvent[], cursor: string): void;
  /** A request failed (not by `stop()`); the poll has ended. */
  onFailed(error: OncelyClientError): void;
}

export class LongPoll {
  private readonly abort = new AbortController();

  constructor(
    private readonly api: HttpApi,
    private readonly timeoutMs: number,
    private readonly handlers: LongPollHandlers,
  ) {}

  /** Polls until `stop()` or a failure. */
  async run(): Promise<void> {
    const { abort, handlers } = this;
    let first = true;
    // Stopped by close(), or by a WebSocket taking over: it resumes from the saved cursor, so an answer
    // dropped here is replayed there (and anything already applied is dropped as a repeat).
    while (!abort.signal.aborted) {
      let answer: { events: WireEvent[]; cursor: string };
      try {
        const cursor = handlers.cursor();
        const q = cursor ? `cursor=${encodeURIComponent(cursor)}&` : '';
        answer = await this.api.request(
          'GET',
          `/v1/sync?${q}timeoutMs=${first ? 0 : this.timeoutMs}`,
          undefined,
          { signal: abort.signal },
        );
      } catch (err) {
        if (abort.signal.aborted) return;
        return handlers.onFailed(
          err instanceof OncelyClientError ? err : new OncelyClientError('network_error', String(err)),
        );
      }
      if (abort.signal.aborted) return;
      if (first) {
        first = false;
        const userId = handlers.userId() ?? claimsOf(await this.api.token()).sub ?? '';
        if (abort.signal.aborted) return;
        handlers.onOpen(userId, answer.cursor);
      }
      handlers.onAnswer(answer.events, answer.cursor);
    }
  }

  stop(): void {
    this.abort.abort();
  }
}
