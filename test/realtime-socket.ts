// A raw WebSocket test client for the realtime tests: records every frame, waits for conditions, and can
// vanish without a close frame (destroy the TCP socket) like a phone losing its network.

import WebSocket from 'ws';
import { waitFor } from './harness.js';

export interface Frame {
  type: string;
  [k: string]: any;
}

export class TestSocket {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(data.toString()) as Frame));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      }),
    );
    ws.on('error', () => undefined);
  }

  static async open(
    baseUrl: string,
    token?: string,
    options: WebSocket.ClientOptions = {},
  ): Promise<TestSocket> {
    const query = token ? `?token=${encodeURIComponent(token)}` : '';
    return TestSocket.openUrl(`${baseUrl.replace(/^http/, 'ws')}/v1/ws${query}`, options);
  }

  static async openUrl(url: string, options: WebSocket.ClientOptions = {}): Promise<TestSocket> {
    const socket = new TestSocket(new WebSocket(url, options));
    await new Promise<void>((resolve, reject) => {
      socket.ws.once('open', () => resolve());
      socket.ws.once('error', reject);
    });
    return socket;
  }

  /** Opens, optionally resumes, and waits for `ready`. */
  static async connect(baseUrl: string, token: string, cursor?: string): Promise<TestSocket> {
    const socket = await TestSocket.open(baseUrl, token);
    // The first frame decides: a resume replays from the cursor; anything else goes live from `ready` at once.
    socket.send(cursor ? { type: 'resume', cursor } : { type: 'ping' });
    await socket.waitFor((f) => f.type === 'ready');
    return socket;
  }

  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The `event` frames received so far. */
  events(): Frame[] {
    return this.frames.filter((f) => f.type === 'event');
  }

  lastCursor(): string | undefined {
    return this.events().at(-1)?.cursor ?? this.frames.find((f) => f.type === 'ready')?.cursor;
  }

  async waitFor(check: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    await waitFor(() => this.frames.some(check), timeoutMs);
    return this.frames.find(check)!;
  }

  async waitForEvents(n: number, timeoutMs = 15_000): Promise<Frame[]> {
    await waitFor(() => this.events().length >= n, timeoutMs);
    return this.events();
  }

  /** Gone without a close frame. */
  destroy(): void {
    (this.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    await this.closed;
  }
}
