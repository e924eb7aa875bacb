// One WebSocket to the server: the URL with the token and resume cursor, frame parsing, and client pings
// that find a half-open connection (a server gone without a close frame). Whether to retry is not its part.
import type { WebSocketConstructor, WebSocketLike } from './client-options.js';
import type { ClientFrame, ServerFrame } from './protocol.js';

export interface WebSocketHandlers {
  onOpen(): void;
  onReady(frame: Extract<ServerFrame, { type: 'ready' }>): void;
  onFrame(frame: ServerFrame): void;
  onClose(ev: { code: number; reason: string }): void;
}

/** The WebSocket URL of the server at `baseUrl` (http → ws), authenticated by `token`, resuming at `cursor`. */
export function webSocketUrl(baseUrl: string, token: string, cursor: string | undefined): string {
  // The cursor rides on the URL, so the server resumes at connect with no race against live events.
  const resumeAt = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
  return `${baseUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/v1/ws?token=${encodeURIComponent(token)}${resumeAt}`;
}

export class WebSocketConnection {
  readonly socket: WebSocketLike;
  /** The socket opened, and the server then said `ready` (and the client took the connection). */
  opened = false;
  ready = false;
  private lastHeardAt = 0;
  private pingTimer: ReturnType<typeof setInterval> | undefined;

  /** Opens the socket; throws what the WebSocket constructor throws (e.g. a malformed URL). */
  constructor(WS: WebSocketConstructor, url: string, handlers: WebSocketHandlers) {
    const socket = new WS(url);
    this.socket = socket;
    socket.onopen = () => {
      this.opened = true;
      this.lastHeardAt = Date.now();
      handlers.onOpen();
    };
    socket.onmessage = (ev) => {
      this.lastHeardAt = Date.now();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(ev.data)) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === 'ready') handlers.onReady(frame);
      else handlers.onFrame(frame);
    };
    socket.onerror = () => {
      /* onclose follows with the code */
    };
    socket.onclose = (ev) => handlers.onClose(ev);
  }

  /** Whether frames can be sent now. */
  get isOpen(): boolean {
    return this.socket.readyState === 1;
  }

  send(frame: ClientFrame): void {
    if (this.socket.readyState === 1) this.socket.send(JSON.stringify(frame));
  }

  /** Pings every `everyMs`; a connection silent for two intervals is dropped and `onSilent` called. */
  startPinging(everyMs: number, onSilent: () => void): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeardAt > 2 * everyMs) {
        // Half-open: the server is gone without a close frame.
        this.detach();
        try {
          this.socket.close(4000, 'no answer to pings');
        } catch {
          /* already closing */
        }
        onSilent();
        return;
      }
      this.send({ type: 'ping' });
    }, everyMs);
  }

  stopPinging(): void {
    clearInterval(this.pingTimer);
  }

  /** Stops listening (and pinging): whatever the socket does from now on is ignored. */
  detach(): void {
    this.stopPinging();
    const socket = this.socket;
    socket.onopen = socket.onmessage = socket.onclose = null;
    // Not null: `ws` (Node) throws an 'error' nobody listens to when a socket still connecting is closed.
    socket.onerror = () => undefined;
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }
}
