// The one error type of oncely and the catalogue of its codes: each code declared once, with its HTTP status
// and what it means to a client. Thrown where a rule lives; turned into {"error":{code,message}} in one place
// (http/error-mapper.ts). The README's list and the OpenAPI document's error responses are made from it.

import { STATUS_CODES } from 'node:http';

export interface ErrorEntry {
  status: number;
  /** What the code tells a client: for the README and the OpenAPI document. */
  meaning: string;
  /**
   * Whether the same request may succeed later unchanged: the failure passes, or the state it depends on may
   * change (a batch item's `retryable`).
   */
  retryable?: true;
  /**
   * Never an HTTP answer: `realtime` codes come in a WebSocket `error` frame (or an SSE `error` event), `item`
   * codes as one batch item's (or queue message's) error. Their status is the one they would have.
   */
  only?: 'realtime' | 'item';
  /** Answered before any route runs (the router, the body parsers, Node's HTTP parser, the WebSocket upgrade). */
  beforeRoute?: true;
}

export const errorCatalogue = {
  // ---- The request itself (README "Refusals say what was expected") ----
  invalid_request: {
    status: 400,
    meaning: 'the request fails its schema; the message names the field and what it takes',
  },
  invalid_json: {
    status: 400,
    meaning: 'the body is not JSON, or holds a `__proto__` / `constructor.prototype` key',
    beforeRoute: true,
  },
  invalid_url: {
    status: 400,
    meaning: 'the path has a percent-encoding that is not UTF-8 (`/v1/messages/%00%ff`)',
    beforeRoute: true,
  },
  invalid_content_length: {
    status: 400,
    meaning: 'the body is not as long as its `Content-Length` says',
    beforeRoute: true,
  },
  malformed_request: {
    status: 400,
    meaning: "not HTTP/1.1: Node's parser refused it (e.g. a body cut short of its `Content-Length`)",
    beforeRoute: true,
  },
  bad_request: {
    status: 400,
    meaning:
      "refused by the HTTP framework or the page's file server for a reason no other code names (with their own 4xx status, mostly 400)",
    beforeRoute: true,
  },
  route_not_found: {
    status: 404,
    meaning: 'no such route (also a WebSocket upgrade to any path but `/v1/ws`)',
    beforeRoute: true,
  },
  invalid_websocket_handshake: {
    status: 400,
    meaning: 'an upgrade to `/v1/ws` that is not a valid WebSocket handshake',
    beforeRoute: true,
  },
  method_not_allowed: {
    status: 405,
    meaning:
      'a WebSocket upgrade by another method than `GET`; a `HEAD` of `/v1/events` or `/v1/sync` (streams)',
    beforeRoute: true,
  },
  request_timeout: {
    status: 408,
    meaning: "the request did not arrive within Node's request timeout",
    beforeRoute: true,
  },
  body_too_large: {
    status: 413,
    meaning: 'a body over `ONCELY_BODY_LIMIT_BYTES`',
    beforeRoute: true,
  },
  path_parameter_too_long: {
    status: 414,
    meaning: 'a path parameter over 512 characters (ids are at most 128, keys 255: those get a 400)',
    beforeRoute: true,
  },
  unsupported_media_type: {
    status: 415,
    meaning: 'a body that is not `application/json` (the callback endpoint takes any type)',
    beforeRoute: true,
  },
  headers_too_large: {
    status: 431,
    meaning: "headers over Node's limit (16 KiB)",
    beforeRoute: true,
  },

  // ---- Credentials ----
  missing_token: {
    status: 401,
    meaning: 'no `Authorization: Bearer <token>` (or `?token=` on the WebSocket)',
  },
  invalid_authorization: { status: 401, meaning: 'an `Authorization` header that is not `Bearer <token>`' },
  invalid_token: {
    status: 401,
    meaning: 'a token this server did not issue, malformed, or signed with a rotated secret',
  },
  invalid_api_key: { status: 401, meaning: 'an API key (`oky_…`) no app has' },
  token_expired: { status: 401, meaning: "the user token's `expiresAt` has passed: get a new one" },
  token_not_yet_valid: {
    status: 401,
    meaning: "the user token's `nbf`, or its `iat` by more than a minute, is in the future (a skewed clock)",
  },
  admin_only: { status: 403, meaning: 'the endpoint takes the admin token' },
  app_key_required: { status: 403, meaning: "the endpoint takes an app's API key" },
  user_token_required: { status: 403, meaning: 'the endpoint (or the WebSocket) takes a user token' },
  app_or_user_required: { status: 403, meaning: 'the endpoint takes an app API key or a user token' },
  admin_or_own_app_required: { status: 403, meaning: "the admin token or this app's own API key is needed" },
  auth_required: {
    status: 401,
    meaning: 'on a WebSocket without `?token=`, the first frame was not `auth`',
    only: 'realtime',
  },
  auth_timeout: {
    status: 401,
    meaning: 'on a WebSocket without `?token=`, no `auth` frame came within `ONCELY_WS_AUTH_TIMEOUT_MS`',
    only: 'realtime',
  },
  token_user_mismatch: {
    status: 403,
    meaning: "an `auth` frame on an open connection carried another user's token (the session keeps its own)",
    only: 'realtime',
  },

  // ---- Apps and users ----
  app_not_found: { status: 404, meaning: 'no such app' },
  user_not_found: { status: 404, meaning: 'a user named does not exist in this app', retryable: true },
  ttl_too_long: { status: 400, meaning: '`ttlSeconds` over `ONCELY_USER_TOKEN_MAX_TTL_SECONDS`' },
  user_conversations_disabled: {
    status: 403,
    meaning: 'the app does not let its users start conversations (`usersCreateConversations: false`)',
  },

  // ---- Conversations and membership ----
  conversation_not_found: {
    status: 404,
    meaning: 'no such conversation in this app',
    retryable: true,
  },
  not_member: {
    status: 403,
    meaning: 'the user is not a member of the conversation (Invariant 4)',
    retryable: true,
  },
  member_not_found: { status: 404, meaning: 'the user to remove is not a member' },
  invalid_members: {
    status: 400,
    meaning: 'a direct conversation is two distinct users; a group at least one; admins must be members',
  },
  conversation_exists: { status: 409, meaning: 'a conversation with this `id` exists already' },
  conversation_is_direct: { status: 409, meaning: 'a direct conversation keeps its two members' },
  seq_out_of_range: { status: 400, meaning: "a receipt past the conversation's last `seq`" },
  presence_disabled: {
    status: 409,
    meaning: 'presence is turned off on this deployment (`ONCELY_PRESENCE=0`)',
  },

  // ---- Messages and idempotency ----
  message_not_found: { status: 404, meaning: 'no such message (or not in a conversation of the caller)' },
  message_too_large: { status: 413, meaning: 'a message body over `ONCELY_MESSAGE_MAX_BYTES` of JSON' },
  body_too_deep: {
    status: 400,
    meaning: 'a message body (or callback payload) nested deeper than `ONCELY_MESSAGE_MAX_DEPTH`',
  },
  missing_from: { status: 400, meaning: 'an app sends on behalf of a user: `from` is required' },
  from_mismatch: { status: 403, meaning: 'a user token sends as its own user only' },
  not_sender: { status: 403, meaning: 'only the sender, a conversation admin or the app may recall' },
  recall_window_expired: {
    status: 409,
    meaning: 'the sender may recall within `ONCELY_RECALL_WINDOW_SECONDS`',
  },
  invalid_idempotency_key: { status: 400, meaning: 'an `Idempotency-Key` outside 1–255 characters' },
  idempotency_key_reused: {
    status: 422,
    meaning: 'the idempotency key (or `clientMsgId`) was first used with a different message',
  },
  idempotency_key_busy: {
    status: 409,
    meaning: 'another request is claiming the same key at this moment: retry',
    retryable: true,
  },
  idempotency_key_not_found: {
    status: 404,
    meaning: 'no live record of this key in this scope (never seen, or expired)',
  },
  invalid_scope: {
    status: 400,
    meaning: 'a scope is `app`, `user:{userId}`, `source:{sourceId}` or `queue:{name}`',
  },

  // ---- Batch ----
  batch_too_large: { status: 413, meaning: 'more items than `ONCELY_BATCH_MAX_ITEMS`' },
  invalid_item: {
    status: 400,
    meaning: 'a batch item (or queue message) of the wrong shape: fails that item only, in a partial batch',
    only: 'item',
  },
  batch_aborted: {
    status: 409,
    meaning: 'an atomic batch created nothing because another of its items failed',
    retryable: true,
    only: 'item',
  },

  // ---- Realtime ----
  invalid_cursor: { status: 400, meaning: 'a cursor this server did not issue (a reset server): drop it' },
  rate_limited: {
    status: 429,
    meaning:
      'too many requests of this app key or user, or failed authentications from this address: wait `Retry-After` seconds',
  },
  too_many_connections: {
    status: 429,
    meaning:
      'the user holds `ONCELY_MAX_CONNECTIONS_PER_USER` WebSocket + SSE connections: the new one is refused',
  },
  invalid_frame: {
    status: 400,
    meaning:
      'a frame not JSON, not of the protocol, or with a `__proto__` key; echoes its `clientMsgId`; the socket stays open',
    only: 'realtime',
  },
  slow_consumer: {
    status: 503,
    meaning: 'the reader fell behind (its unsent data passed `ONCELY_SEND_BUFFER_LIMIT_BYTES`): resume',
    only: 'realtime',
    retryable: true,
  },

  // ---- Callbacks ----
  invalid_signature: {
    status: 401,
    meaning: 'the `webhook-signature` matches no secret of the callback source',
  },
  timestamp_out_of_tolerance: { status: 401, meaning: '`webhook-timestamp` is more than 5 minutes off' },
  invalid_payload: {
    status: 400,
    meaning: "a callback body that is not the source's format (kept under the source's rejections)",
  },
  invalid_secret: { status: 400, meaning: 'a secret is `whsec_` and at least 16 bytes in base64' },
  callback_source_not_found: { status: 404, meaning: 'no such callback source in this app' },
  source_not_allowed: {
    status: 403,
    meaning:
      'a callback would add a member to a conversation its source neither created nor was opened to (kept under rejections)',
  },

  // ---- Outbound webhooks ----
  webhook_url_not_allowed: {
    status: 400,
    meaning:
      'the endpoint URL is not http(s), or its host is not a public unicast address (private, loopback, link-local …)',
  },
  webhook_endpoint_not_found: { status: 404, meaning: 'no such webhook endpoint in this app' },
  webhook_delivery_not_found: { status: 404, meaning: 'no such webhook delivery in this app' },
  webhook_endpoint_disabled: { status: 409, meaning: 'the endpoint is disabled: enable it first' },
  delivery_pending: { status: 409, meaning: 'the delivery is pending: it will be tried' },
  secret_in_use: { status: 409, meaning: 'the new secret must differ from the ones in use' },
  invalid_since: {
    status: 400,
    meaning: '`since` is an ISO 8601 time or milliseconds since the epoch, in the past',
  },

  // ---- The server ----
  internal_error: {
    status: 500,
    meaning: 'an unexpected failure, logged; nothing was half-applied',
    retryable: true,
  },
  store_unavailable: {
    status: 503,
    meaning:
      'the database cannot be reached, or cannot write (a full disk); nothing was half-written; retry after `Retry-After`',
    retryable: true,
  },
  shutting_down: {
    status: 503,
    meaning: 'the instance is stopping; retry (on another instance behind a balancer) after `Retry-After`',
    retryable: true,
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface OncelyErrorOptions {
  /** For passing failures (503): when the caller should try again, sent as `Retry-After`. */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/** A refusal a client sees: a stable snake_case `code` and the HTTP status it maps to. */
export class OncelyError extends Error {
  readonly retryAfterSeconds?: number;

  /**
   * Oncely's own errors are made with `OncelyError.of(code, …)` from the catalogue (a lint rule keeps it so);
   * this constructor is for a plugin's own refusals, whose codes are the plugin's (README "Plugins").
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options: OncelyErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OncelyError';
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The error of a catalogued code, with the status the catalogue gives it. */
  static of(code: ErrorCode, message: string, options?: OncelyErrorOptions): OncelyError {
    return new OncelyError(errorCatalogue[code].status, code, message, options);
  }

  /** Whether the same request may succeed later unchanged (a failure that passes, state that may change). */
  get retryable(): boolean {
    return this.status >= 500 || (this.code in errorCatalogue && isRetryable(this.code as ErrorCode));
  }
}

/** Whether a code's failure may pass if the same request is made again later. */
export function isRetryable(code: ErrorCode): boolean {
  return (errorCatalogue[code] as ErrorEntry).retryable === true;
}

/**
 * The error shape written straight to a socket, for the refusals made before any HTTP framework answers
 * (a malformed request, a refused WebSocket upgrade): the same `{"error":{code,message}}` as every answer.
 */
export function rawHttpError(code: ErrorCode, message: string, headers: Record<string, string> = {}): string {
  const status = errorCatalogue[code].status;
  const body = JSON.stringify({ error: { code, message } });
  const head = Object.entries({
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...headers,
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${head}\r\n${body}`;
}

/**
 * The database cannot be reached (down, restarting, refusing connections). Nothing was half-written: the
 * transaction rolled back, or its commit's outcome is unknown and a retry with the same idempotency key
 * replays it (invariant 1). The instance reconnects by itself.
 */
export function storeUnavailable(message: string, cause?: unknown): OncelyError {
  return OncelyError.of('store_unavailable', message, { retryAfterSeconds: 1, cause });
}
