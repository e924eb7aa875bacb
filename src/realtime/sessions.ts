// The realtime sessions of this instance: who may open one (token, rate limits, the per-user connection limit
// across instances, the resume cursor), the heartbeat and the slow-consumer check over all of them, the
// long-poll wait, and the one place where a user's first session here opens and its last one closes.
import type { Principal, UserPrincipal } from '../apps/principal.js';
import type { Clock } from '../clock.js';
import type { Receipts } from '../conversations/receipts.js';
import type { Recall } from '../conversations/recall.js';
import type { WireEvent } from '../conversations/events.js';
import { OncelyError } from '../errors.js';
import type { Ingest } from '../ingest/ingest.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ConnectionRelease } from './connection-registry.js';
import type { Subscriber } from './hub.js';
import { LocalSessions, type Presence } from './presence.js';
import type { Realtime } from './realtime.js';
import { Session, type Admission, type Transport } from './session.js';
import type { Typing } from './typing.js';

/** The rate limits authentication counts against, by client address (the HTTP API's own). */
export interface SessionLimits {
  beforeAuth(address: string): Promise<void>;
  authFailed(address: string): Promise<void>;
  authenticated(address: string, principal: Principal): Promise<void>;
}

export interface SessionsOptions {
  heartbeatMs: number;
  authTimeoutMs: number;
  maxConnectionsPerUser: number;
  sendBufferLimitBytes: number;
  longPollMaxMs: number;
  /** How long after `ready` live events wait for a first `resume` frame. @defaultValue 1000 */
  resumeGraceMs?: number;
}

export const sessionsDefaults = { resumeGraceMs: 1000 };

export interface SessionsDeps {
  realtime: Realtime;
  /** Who a bearer token belongs to (the HTTP API's own check, so both refuse alike). */
  auth: { principalOf(token: string): Promise<Principal> };
  limits?: SessionLimits;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Where a client's frames go: the same paths as REST (and typing). */
  frames: { ingest: Ingest; receipts: Receipts; recall: Recall; typing: Typing };
  /** Told when a user's first live session (WebSocket, SSE) here opens and when its last one closes. */
  presence?: Presence;
  options: SessionsOptions;
}

/** What a session reads from the sessions it belongs to. */
export interface SessionContext extends Omit<SessionsDeps, 'options' | 'auth' | 'limits' | 'presence'> {
  options: Required<SessionsOptions>;
  admit(request: AdmitRequest): Promise<Admission>;
  principalOf(token: string, address: string): Promise<Principal>;
  opened(session: Session): void;
  closed(session: Session): void;
  written(session: Session): void;
}

export interface AdmitRequest {
  token: string;
  address: string;
  cursor?: string | undefined;
}

export interface Sessions {
  /** Lets a user in, or throws the refusal (401/403, 429 rate_limited or too_many_connections, 400 invalid_cursor). */
  admit(request: AdmitRequest): Promise<Admission>;
  /** A WebSocket session: admitted here from `token`, or from its first frame (`auth`) when there is none. */
  connect(transport: Transport, request: { token?: string; address: string; cursor?: string }): Session;
  /** The session of a user admitted already (SSE): `ready`, then live or the replay from its cursor. */
  start(transport: Transport, admission: Admission): Session;
  /**
   * A long-poll: the user's events after `cursor`, waiting up to `timeoutMs` (never past its token's expiry)
   * for the first; it counts in the connection limit while it waits. `gone` registers the end of the request.
   */
  poll(request: {
    user: UserPrincipal;
    cursor: string | undefined;
    timeoutMs: number | undefined;
    gone(end: () => void): () => void;
  }): Promise<{ events: WireEvent[]; cursor: string }>;
  /** Ends every session with `code` (1001 going away) and every waiting long-poll. */
  close(code: number): void;
}

/**
 * Most events in one long-poll answer; the next poll is answered at once while more wait. A device far
 * behind catches up in a few answers rather than dozens (each costs a request and a page's seeks); a page
 * of large messages ends earlier (the reader's `pageChars`).
 */
const pollPageSize = 2000;

export function createSessions(deps: SessionsDeps): Sessions {
  const { realtime, metrics, limits } = deps;
  const options = { ...sessionsDefaults, ...deps.options };
  const live = new Set<Session>();
  const polls = new Set<() => void>();
  /** Started sessions per user on this instance: presence hears of the first and of the last. */
  const local = deps.presence && new LocalSessions(deps.presence);
  const presenceEnds = new WeakMap<Session, () => void>();

  async function principalOf(token: string, address: string): Promise<Principal> {
    await limits?.beforeAuth(address);
    let p: Principal;
    try {
      p = await deps.auth.principalOf(token);
    } catch (err) {
      if (err instanceof OncelyError && err.status === 401) await limits?.authFailed(address);
      throw err;
    }
    await limits?.authenticated(address, p);
    return p;
  }

  /** A place in the user's connection limit (over every instance with Redis); 429 when there is none. */
  async function reserve(user: UserPrincipal): Promise<ConnectionRelease> {
    const max = options.maxConnectionsPerUser;
    const place = await realtime.connections.reserve(user.appId, user.userId, max);
    if (place) return place;
    metrics.realtimeDisconnects.inc({ reason: 'too_many_connections' });
    throw OncelyError.of(
      'too_many_connections',
      `a user may hold ${max} connections; this new one is refused`,
    );
  }

  async function admit({ token, address, cursor }: AdmitRequest): Promise<Admission> {
    const p = await principalOf(token, address);
    if (p.kind !== 'user')
      throw OncelyError.of('user_token_required', 'a realtime session takes a user token');
    const resumeFrom = cursor ? await realtime.position(cursor) : undefined;
    return { user: p, place: await reserve(p), resumeFrom, address };
  }

  // The end of a turn: frames written in it leave together, then each backlog is checked against the limit.
  const dirty = new Set<Session>();
  const endOfTurn = () => {
    const sessions = [...dirty];
    dirty.clear();
    for (const s of sessions) s.transport.flush?.();
    for (const s of sessions) if (s.transport.buffered() > options.sendBufferLimitBytes) s.cutSlow();
  };

  const context: SessionContext = {
    realtime,
    clock: deps.clock,
    logger: deps.logger,
    metrics,
    frames: deps.frames,
    options,
    admit,
    principalOf,
    // The one place a session of a user starts and ends here: presence hangs off it (a waiting long-poll
    // is no session and makes nobody present).
    opened(s) {
      if (local) presenceEnds.set(s, local.open(s.user!.appId, s.user!.userId));
    },
    closed(s) {
      live.delete(s);
      dirty.delete(s);
      metrics.connections.dec({ transport: s.transport.name });
      presenceEnds.get(s)?.();
    },
    written(s) {
      if (dirty.size === 0) setImmediate(endOfTurn);
      dirty.add(s);
    },
  };

  // A peer that misses a ping is gone: dropped within two intervals. Peers that cannot answer get a comment.
  const heartbeat = setInterval(() => {
    for (const s of live) {
      if (!s.transport.answersPings) s.transport.ping();
      else if (!s.alive) {
        metrics.realtimeDisconnects.inc({ reason: 'heartbeat' });
        s.transport.terminate();
        s.closed();
      } else {
        s.alive = false;
        s.transport.ping();
      }
    }
  }, options.heartbeatMs);
  heartbeat.unref();

  function track(transport: Transport, address: string): Session {
    const session = new Session(context, transport, address);
    live.add(session);
    metrics.connections.inc({ transport: transport.name });
    return session;
  }

  return {
    admit,

    connect(transport, { token, address, cursor }) {
      const session = track(transport, address);
      session.connect(token, cursor);
      return session;
    },

    start(transport, admission) {
      const session = track(transport, admission.address);
      session.start(admission, false).catch((err: unknown) => {
        deps.logger.error({ err }, 'realtime session failed to start');
        session.end(1011, 'internal_error');
      });
      return session;
    },

    async poll({ user, cursor, timeoutMs: asked, gone }) {
      // Without a cursor: no events, and the cursor of now (history is read per conversation).
      if (cursor === undefined) return { events: [], cursor: realtime.cursor(realtime.now()) };
      const after = await realtime.position(cursor);
      // Never waits past the token's expiry (the next poll then needs a fresh token).
      const timeoutMs = Math.max(
        0,
        Math.min(
          asked ?? options.longPollMaxMs,
          options.longPollMaxMs,
          (user.expiresAt ?? Infinity) - deps.clock.now(),
        ),
      );
      // A waiting long-poll holds a connection like a socket does: it counts in the user's limit (not presence).
      const place = await reserve(user);
      let wake: () => void = () => undefined;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const waiter: Subscriber & { closed: boolean } = {
        appId: user.appId,
        userId: user.userId,
        closed: false,
        deliver: () => wake(),
        receipt: () => undefined,
      };
      const end = () => wake();
      polls.add(end);
      const ungone = gone(end);
      metrics.connections.inc({ transport: 'longpoll' });
      try {
        // Attached before the read: an event committed after the read wakes us, none falls between.
        await realtime.hub.attach(waiter);
        let page = await realtime.reader.userEvents(user.appId, user.userId, after, pollPageSize);
        if (page.events.length === 0 && timeoutMs > 0) {
          const timer = setTimeout(wake, timeoutMs);
          await woken;
          clearTimeout(timer);
          page = await realtime.reader.userEvents(user.appId, user.userId, after, pollPageSize);
        }
        // `through` is past every event of the user the read could see, found or not: the cursor moves there.
        return { events: page.events.map((e) => e.event), cursor: realtime.cursor(page.through) };
      } finally {
        waiter.closed = true;
        realtime.hub.detach(waiter);
        polls.delete(end);
        ungone();
        metrics.connections.dec({ transport: 'longpoll' });
        place();
      }
    },

    close(code) {
      clearInterval(heartbeat);
      for (const s of [...live]) s.end(code, 'server shutting down');
      for (const end of [...polls]) end();
    },
  };
}
