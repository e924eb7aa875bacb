// The oncely client library: `new OncelyClient({ url, token })`, then `connect()`, `on('event', …)`,
// `send()`, `markReceipt()`, `recall()`. See README "Realtime" for the protocol underneath.
export { OncelyClient } from './oncely-client.js';
export { OncelyClientError } from './client-error.js';
export { newClientMsgId } from './pending-sends.js';
export type {
  ClientState,
  ClientStateStore,
  OncelyClientOptions,
  WebSocketConstructor,
  WebSocketLike,
} from './client-options.js';
export type { ConnectionState, ConnectionStatus } from './connection-state.js';
export { ConversationOrder, type Gap, type Offered } from './ordering.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export type {
  ClientFrame,
  EventType,
  MessageBody,
  Receipt,
  SentAnswer,
  ServerFrame,
  WireEvent,
} from './protocol.js';
export { CloseCodes, closeCodes, type CloseCodeMeaning, type CloseCodeName } from './close-codes.js';
