// The oncely client library: `new OncelyClient({ url, token })`, then `connect()`, `on('event', …)`,
// `send()`, `markReceipt()`, `recall()`. See README "Realtime" for the protocol underneath.
export {
  OncelyClient,
  OncelyClientError,
  newClientMsgId,
  type ClientState,
  type ClientStateStore,
  type ConnectionState,
  type ConnectionStatus,
  type OncelyClientOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from './oncely-client.js';
export { ConversationOrder, type Gap, type Offered } from './ordering.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export {
  CloseCodes,
  type ClientFrame,
  type EventType,
  type MessageBody,
  type Receipt,
  type SentAnswer,
  type ServerFrame,
  type WireEvent,
} from './protocol.js';
