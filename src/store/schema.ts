// The tables of oncely as Kysely sees them. Times are milliseconds since the epoch; bodies and results are JSON text.
import type { Generated } from 'kysely';

export interface AppsTable {
  id: string;
  name: string;
  /** HMAC key for this app's user tokens; lives in the database so every instance can verify them. */
  token_secret: string;
  created_at: number;
  /** 1: the app's users may start conversations themselves (POST /v1/me/conversations); 0: only the app. */
  users_create_conversations: Generated<number>;
}

export interface ApiKeysTable {
  /** sha256 of the key: the key itself is shown once and never stored. */
  key_hash: string;
  app_id: string;
  created_at: number;
}

export interface UsersTable {
  app_id: string;
  id: string;
  display_name: string | null;
  created_at: number;
  updated_at: number;
}

export interface ConversationsTable {
  app_id: string;
  id: string;
  kind: 'direct' | 'group';
  title: string | null;
  /** For direct conversations: the two user ids, sorted and joined; unique per app, so a pair exists once. */
  direct_key: string | null;
  last_seq: number;
  created_at: number;
  /** Seconds a message is kept before its body is erased; 0: forever; null: the deployment's default. */
  retention_seconds: number | null;
  /** Every message with a seq up to here has been expired (or was kept by a retention of 0 at the time). */
  expired_seq: number;
}

export interface MembersTable {
  app_id: string;
  conversation_id: string;
  user_id: string;
  role: 'admin' | 'member';
  delivered_seq: number;
  read_seq: number;
  /** Stream position of the event that added the member: it sees events from here on. */
  joined_pos: number;
  /** Stream position of the event that removed the member, null while a member. */
  left_pos: number | null;
  joined_at: number;
}

/** One period a user was a member of a conversation: the seqs it may read (invariant 4 over time). */
export interface MemberPeriodsTable {
  app_id: string;
  conversation_id: string;
  user_id: string;
  /** The seq of the member.added event that opened it; 0 for a founding member (from the beginning). */
  from_seq: number;
  /** The seq of the member.removed event that closed it (the member reads its own removal); null while open. */
  to_seq: number | null;
}

export type EventType = 'message.created' | 'message.recalled' | 'member.added' | 'member.removed';

export interface EventsTable {
  id: string;
  app_id: string;
  conversation_id: string;
  /** Gapless per conversation (invariant 3). */
  seq: number;
  /** Position in the global commit-ordered stream; cursors are built from it. */
  pos: number;
  type: EventType;
  sender_id: string | null;
  /** JSON text; null once recalled (the body is erased). */
  body: string | null;
  client_msg_id: string | null;
  /** For message.recalled: the recalled message; for member events: the user added or removed. */
  subject_id: string | null;
  created_at: number;
  recalled_at: number | null;
  /** When the expiry sweep erased the body (the conversation's retention had passed); null otherwise. */
  expired_at: number | null;
}

export interface IdempotencyKeysTable {
  app_id: string;
  /** `app`, `user:{userId}`, `source:{sourceId}` or `queue:{name}`. */
  scope: string;
  key: string;
  /** sha256 of the canonical request payload: the same key with another payload is refused. */
  fingerprint: string;
  /** JSON of the first answer, replayed to every repeat. */
  result: string;
  created_at: number;
  expires_at: number;
}

/** A conversation whose membership a callback source may change (it created it, or it was opened to it). */
export interface SourceConversationsTable {
  app_id: string;
  conversation_id: string;
  source_id: string;
  created_at: number;
}

/** One row, rewritten by readiness while writes fail (store/write-outage.ts). */
export interface WriteProbeTable {
  id: number;
  filler: string;
  written_at: number;
}

export interface CountersTable {
  name: string;
  value: number;
}

export interface CallbackSourcesTable {
  app_id: string;
  id: string;
  format: 'generic' | 'gewechat';
  /** JSON array of `whsec_…` secrets, all accepted (rotation); kept raw because verification needs them. */
  secrets: string;
  created_at: number;
  updated_at: number;
}

export interface CallbackRejectionsTable {
  /** Time-ordered (UUIDv7). */
  id: string;
  app_id: string;
  source_id: string;
  /** `invalid_payload` or `conflict` (same msgId, other payload). */
  reason: string;
  message: string;
  msg_id: string | null;
  /** For conflicts: the message the first payload created. */
  message_id: string | null;
  /** The raw body, truncated. */
  payload: string;
  received_at: number;
}

export interface ConsumedMessagesTable {
  /** The application's name for its consumer; records of two consumers never collide. */
  consumer: string;
  /** The message's own unique id, as the producer gave it. */
  message_id: string;
  consumed_at: number;
}

export interface WebhookEndpointsTable {
  app_id: string;
  /** Chosen by the app. */
  id: string;
  url: string;
  /** JSON array of event types; null: every type. */
  events: string | null;
  enabled: number;
  /** 1: an endpoint's deliveries of one conversation go in seq order. */
  ordered: number;
  /** JSON `[{secret, expiresAt}]`: the current secret (expiresAt null) and rotated ones still signing. */
  secrets: string;
  /** Why the server disabled it (`gone`: the receiver answered 410); null when enabled or disabled by the app. */
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
}

export type DeliveryState = 'pending' | 'succeeded' | 'failed';

/** The outbox: one row per (event, endpoint), written in the event's transaction. */
export interface WebhookDeliveriesTable {
  /** Time-ordered (UUIDv7). */
  id: string;
  app_id: string;
  endpoint_id: string;
  /** Also the `webhook-id` of every attempt. */
  event_id: string;
  conversation_id: string;
  seq: number;
  /** Copied from the endpoint when the row is written. */
  ordered: number;
  state: DeliveryState;
  /** Attempts this run may still make; 0 with a failed attempt: `failed`. */
  tries_left: number;
  attempt_count: number;
  /** When a pending row is due; a claim moves it to the lease's end, so a dead claimer's rows come back. */
  next_attempt_at: number;
  /** The claim holding the row; outcomes are recorded only by that claim. */
  lease_token: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  finished_at: number | null;
  /**
   * Set only while the latest attempt (number `attempt_count`) is kept here rather than in webhook_attempts: a
   * success is (migration 0013); a failure, and a success that a later attempt follows, are attempts rows.
   */
  last_attempt_at: number | null;
  last_duration_ms: number | null;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  /** 1, 2, 3 … per delivery. */
  n: number;
  attempted_at: number;
  /** Null when no answer came (timeout, refused connection, address not allowed). */
  status_code: number | null;
  duration_ms: number;
  error: string | null;
}

/** Facts about the database itself, by name (`epoch`: store-epoch.ts). */
export interface StoreMetaTable {
  name: string;
  value: string;
}

export interface Database {
  apps: AppsTable;
  api_keys: ApiKeysTable;
  users: UsersTable;
  conversations: ConversationsTable;
  members: MembersTable;
  member_periods: MemberPeriodsTable;
  events: EventsTable;
  idempotency_keys: IdempotencyKeysTable;
  counters: CountersTable;
  write_probe: WriteProbeTable;
  source_conversations: SourceConversationsTable;
  callback_sources: CallbackSourcesTable;
  callback_rejections: CallbackRejectionsTable;
  consumed_messages: ConsumedMessagesTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  store_meta: StoreMetaTable;
}

export type { Generated };
