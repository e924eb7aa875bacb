// The parts the composition root builds and hands to the HTTP routes and realtime gateways.
import type { Apps } from './apps/apps.js';
import type { UserTokens } from './apps/user-tokens.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Conversations } from './conversations/conversations.js';
import type { History } from './conversations/history.js';
import type { Recall } from './conversations/recall.js';
import type { ExpirySweeper } from './conversations/expiry-sweeper.js';
import type { Receipts } from './conversations/receipts.js';
import type { UserConversations } from './conversations/user-conversations.js';
import type { Auth } from './http/auth.js';
import type { Sweeper } from './idempotency/sweeper.js';
import type { Batch } from './batch/batch.js';
import type { CallbackSources } from './callbacks/callback-sources.js';
import type { Callbacks } from './callbacks/callbacks.js';
import type { Rejections } from './callbacks/rejections.js';
import type { Consumers } from './consumers/consumers.js';
import type { Ingest } from './ingest/ingest.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import type { Bus } from './realtime/bus.js';
import type { Realtime } from './realtime/realtime.js';
import type { Presence } from './realtime/presence.js';
import type { Typing } from './realtime/typing.js';
import type { Store } from './store/store.js';
import type { Webhooks } from './webhooks/webhooks.js';

export interface Services {
  config: Config;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  store: Store;
  bus: Bus;
  /** Routes the stream to local connections (WebSocket, long-poll, SSE). */
  realtime: Realtime;
  /** Who has a live session (WebSocket or SSE), on any instance. */
  presence: Presence;
  /** Typing signals, relayed to the other online members. */
  typing: Typing;
  apps: Apps;
  userTokens: UserTokens;
  auth: Auth;
  ingest: Ingest;
  conversations: Conversations;
  /** What users do about conversations themselves: start one, see the people they share one with. */
  userConversations: UserConversations;
  history: History;
  receipts: Receipts;
  recall: Recall;
  sweeper: Sweeper;
  /** Erases the bodies of messages past their conversation's retention. */
  expirySweeper: ExpirySweeper;
  batch: Batch;
  callbackSources: CallbackSources;
  callbacks: Callbacks;
  rejections: Rejections;
  /** Queue consumers (RabbitMQ, Redis Streams, JetStream) feeding the ingest. */
  consumers: Consumers;
  /** Outbound webhooks: endpoints, outbox, dispatcher. */
  webhooks: Webhooks;
}
