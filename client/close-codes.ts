// The WebSocket close codes, in one table: the server closes with them and the client library decides from
// them whether and how soon to reconnect. Plain data, no dependencies: the browser bundle carries it as is.

export interface CloseCodeMeaning {
  code: number;
  /** Why the server closes with this code. */
  when: string;
  /**
   * Whether a client should reconnect, and how soon: `at-once` (the first retry after a working connection
   * does not wait: nothing is wrong with the client) or `after-backoff` (the usual growing delay). Every code
   * the server sends is worth a reconnect: even a refused token, as the client may hold a fresh one by then.
   */
  reconnect: 'at-once' | 'after-backoff';
  /**
   * The server answered and refused this one connection: the WebSocket itself gets through, so a client does
   * not count the close towards falling back to long-poll.
   */
  refused: boolean;
  /** The resume cursor is not one the server issued: forget it, reconnect without it. */
  forgetCursor: boolean;
  /** Codes of the `error` frame the server sends just before this close: the reason a client reports. */
  errorCodes: readonly string[];
  /** Of those, the ones after which the reconnect is at once whatever `reconnect` says. */
  atOnceAfter?: readonly string[];
}

export const closeCodes = {
  goingAway: {
    code: 1001,
    when: 'the server is shutting down',
    reconnect: 'at-once',
    refused: false,
    forgetCursor: false,
    errorCodes: [],
  },
  internalError: {
    code: 1011,
    when: 'the store failed while streaming to this connection',
    reconnect: 'after-backoff',
    refused: false,
    forgetCursor: false,
    errorCodes: [],
  },
  slowConsumer: {
    code: 4008,
    when: "the socket's unsent data passed the server's limit (nothing is lost: resume)",
    reconnect: 'at-once',
    refused: false,
    forgetCursor: false,
    errorCodes: ['slow_consumer'],
  },
  invalidCursor: {
    code: 4400,
    when: 'the `?cursor=` on the URL is not one this server issued',
    reconnect: 'after-backoff',
    refused: true,
    forgetCursor: true,
    errorCodes: ['invalid_cursor'],
  },
  unauthorized: {
    code: 4401,
    // The client library asks its `token` callback for a token on each attempt.
    when: 'the token is missing, forged or expired, not a user token, or no auth frame came in time',
    reconnect: 'after-backoff',
    refused: true,
    forgetCursor: false,
    errorCodes: [
      'missing_token',
      'invalid_token',
      'invalid_api_key',
      'token_expired',
      'user_token_required',
      'auth_required',
      'auth_timeout',
    ],
    // An expired token is the ordinary end of a session: the reconnect asks the token callback for a fresh one.
    atOnceAfter: ['token_expired'],
  },
  tooManyConnections: {
    code: 4429,
    when: 'the user already holds the most connections allowed (the new one is refused, the old ones stay), or a rate limit refused it',
    reconnect: 'after-backoff',
    refused: true,
    forgetCursor: false,
    errorCodes: ['too_many_connections', 'rate_limited'],
  },
} as const satisfies Record<string, CloseCodeMeaning>;

export type CloseCodeName = keyof typeof closeCodes;

/** The numbers alone, by name (`CloseCodes.goingAway` is 1001). */
export const CloseCodes = Object.fromEntries(
  Object.entries(closeCodes).map(([name, meaning]) => [name, meaning.code]),
) as { readonly [N in CloseCodeName]: (typeof closeCodes)[N]['code'] };

/** What a close code means to a client; undefined for one the server never sends (a network close, 1006). */
export function closeCodeMeaning(code: number | undefined): CloseCodeMeaning | undefined {
  return Object.values(closeCodes).find((m) => m.code === code);
}

/** Whether a client that was connected reconnects without waiting, after this close and `error` frame. */
export function reconnectsAtOnce(code: number | undefined, errorCode: string | undefined): boolean {
  const meaning = closeCodeMeaning(code);
  if (!meaning) return false;
  return (
    meaning.reconnect === 'at-once' || (errorCode !== undefined && !!meaning.atOnceAfter?.includes(errorCode))
  );
}

/** Error codes after which the server closes the socket. */
export const closingErrorCodes: ReadonlySet<string> = new Set(
  Object.values(closeCodes).flatMap((m) => m.errorCodes),
);
