// The connection state the client reports (its `state` event): what a UI needs to show whether it is
// connected, over which transport, and when it tries again.

export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

export type Transport = 'websocket' | 'longpoll';

/** What a UI shows: the status, the transport, and when the next attempt is due (for a countdown). */
export interface ConnectionState {
  status: ConnectionStatus;
  transport: Transport | null;
  /** Failed attempts since the last successful connect. */
  attempt: number;
  /** Epoch ms of the next reconnect attempt while `waiting`, else null. */
  nextRetryAt: number | null;
  /** Why the last connection ended or failed. */
  lastError: { code: string; message: string } | null;
}
