// The page's side of the client library: one OncelyClient per signed-in tab, its events fed into the chat
// state, delivered receipts sent as messages arrive, read receipts as they are seen, and the user's actions
// (send, recall, page back) turned into library calls. The protocol itself lives in client/.
import { useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import {
  OncelyClient,
  newClientMsgId,
  type ClientState,
  type ConnectionState,
  type Receipt,
  type WireEvent,
} from '../../client/index.js';
import { chatReducer, initialChatState, type ChatState, type ConversationSummary } from './chat-state.js';
import { usePresence, type PresenceView } from './presence.js';
import { clearClientState, loadClientState, saveClientState, type Session } from './session.js';

export interface Me {
  userId: string;
  displayName: string | null;
  recallWindowSeconds: number;
  /** Whether the app lets its users start conversations (POST /v1/me/conversations). */
  canStartConversations: boolean;
}

export interface NewConversation {
  kind: 'direct' | 'group';
  title?: string;
  /** The others; the user is always a member. */
  members: string[];
}

export interface ChatSession {
  state: ChatState;
  me: Me | undefined;
  connection: ConnectionState;
  online: boolean;
  /** Who is online and who is typing where; `presence.composing(id)` as the user types. */
  presence: PresenceView;
  /** A problem to show the user (a refused recall, an expired token), or undefined. */
  notice: string | undefined;
  dismissNotice(): void;
  open(conversationId: string): void;
  /** True once an older page is in the state. */
  loadOlder(conversationId: string): Promise<boolean>;
  send(conversationId: string, text: string, clientMsgId?: string): void;
  /** Forgets a failed send (its text is edited into a new one, or dropped). */
  discard(clientMsgId: string): void;
  /** Starts a conversation with the user in it; resolves with its id once it is in the list. */
  startConversation(input: NewConversation): Promise<string>;
  recall(messageId: string): Promise<void>;
  markRead(conversationId: string, seq: number): void;
}

const pageSize = 30;
/** The most history one page may hold (the server's limit): the first unread is loaded if within it. */
const maxPage = 1000;
/** Refusals that say nothing about the message itself: sending it again may succeed. */
const passingFailures = new Set(['store_unavailable', 'shutting_down', 'internal_error', 'network_error']);

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
const receiptPollMs = 3000;

export function useChatSession(session: Session, onSignedOut: (reason: string) => void): ChatSession {
  const [state, dispatch] = useReducer(chatReducer, session.userId, initialChatState);
  const [me, setMe] = useState<Me>();
  const [notice, setNotice] = useState<string>();
  const [online, setOnline] = useState(() => navigator.onLine);
  const client = useMemo(
    () =>
      new OncelyClient({
        url: location.origin,
        token: session.token,
        stateStore: {
          load: (): ClientState | undefined => loadClientState(session.userId),
          save: (s: ClientState) => saveClientState(session.userId, s),
        },
      }),
    [session.token, session.userId],
  );
  const [connection, setConnection] = useState<ConnectionState>(client.state);
  const presence = usePresence(
    client,
    session.userId,
    state.conversations.map((c) => c.id),
  );
  // Markers this page already sent, so it sends each forward move once.
  const sent = useRef(new Map<string, { delivered: number; read: number }>());
  const opened = useRef(new Set<string>());
  const knownConversations = useRef(new Set<string>());
  const receiptsLoader = useRef<(conversationId: string) => Promise<void>>();
  const conversationsLoader = useRef<() => Promise<void>>();

  useEffect(() => {
    let stopped = false;
    const reportError = (err: unknown) => {
      if (stopped) return;
      const code = (err as { code?: string }).code;
      if (code === 'token_expired' || code === 'invalid_token') {
        clearClientState(session.userId);
        onSignedOut(code === 'token_expired' ? 'Your sign-in has expired.' : 'That token is not valid here.');
        return;
      }
      setNotice(messageOf(err));
    };

    // The people shown by name: loaded with the list, whose members they are.
    const loadPeople = async () => {
      const { items } = await client.http<{ items: Array<{ id: string; displayName: string | null }> }>(
        'GET',
        '/v1/me/people',
      );
      if (!stopped) dispatch({ type: 'people.loaded', items });
    };
    const loadConversations = async () => {
      const [{ items }] = await Promise.all([client.conversations(), loadPeople()]);
      const list = items as unknown as ConversationSummary[];
      for (const c of list) knownConversations.current.add(c.id);
      if (!stopped) dispatch({ type: 'conversations.loaded', items: list });
    };
    conversationsLoader.current = loadConversations;

    // Delivered receipts: one per conversation per burst of arrivals, only ever forward.
    const deliveredDue = new Map<string, number>();
    let deliverTimer: ReturnType<typeof setTimeout> | undefined;
    const flushDelivered = () => {
      deliverTimer = undefined;
      for (const [conversationId, seq] of deliveredDue) {
        const marks = sent.current.get(conversationId) ?? { delivered: 0, read: 0 };
        if (seq <= marks.delivered) continue;
        sent.current.set(conversationId, { ...marks, delivered: seq });
        client.markReceipt(conversationId, { deliveredSeq: seq }).catch(reportError);
      }
      deliveredDue.clear();
    };

    const offs = [
      client.on('event', (event: WireEvent) => {
        dispatch({ type: 'events.applied', events: [event] });
        // A new conversation, or new people in one: the list and the names follow.
        if (!knownConversations.current.has(event.conversationId)) {
          knownConversations.current.add(event.conversationId);
          loadConversations().catch(reportError);
        } else if (event.type === 'member.added') {
          loadPeople().catch(reportError);
        }
        if (event.type === 'message.created' && event.senderId !== session.userId) {
          deliveredDue.set(
            event.conversationId,
            Math.max(deliveredDue.get(event.conversationId) ?? 0, event.seq),
          );
          deliverTimer ??= setTimeout(flushDelivered, 50);
        }
      }),
      client.on('receipt', (receipt: Receipt) => dispatch({ type: 'receipt.updated', receipt })),
      client.on('state', setConnection),
      client.on('error', reportError),
      // Every (re)connect: the list's unread counts and the open conversations' markers may have moved.
      client.on('ready', () => {
        loadConversations().catch(reportError);
        for (const id of opened.current) loadReceipts(id).catch(reportError);
        // A receipt sent just before a disconnect may be lost with the socket; markers only move forward,
        // so sending the latest again is harmless.
        for (const [conversationId, m] of sent.current) {
          if (m.delivered > 0 || m.read > 0) {
            client
              .markReceipt(conversationId, { deliveredSeq: m.delivered, readSeq: m.read })
              .catch(reportError);
          }
        }
      }),
    ];

    const loadReceipts = async (conversationId: string) => {
      const { items } = await client.http<{ items: Receipt[] }>(
        'GET',
        `/v1/conversations/${encodeURIComponent(conversationId)}/receipts`,
      );
      if (!stopped) dispatch({ type: 'receipts.loaded', conversationId, items });
    };
    receiptsLoader.current = loadReceipts;

    client
      .http<Me>('GET', '/v1/me')
      .then((m) => !stopped && setMe(m))
      .catch(reportError);
    void client.connect();

    // The network back, or the tab shown again (timers of a hidden tab are slowed, and a laptop may have
    // slept): worth a try at once rather than waiting out the reconnect backoff.
    const goOnline = () => {
      setOnline(true);
      client.reconnectNow();
    };
    const goOffline = () => setOnline(false);
    const onVisibility = () => {
      if (document.visibilityState === 'visible') client.reconnectNow();
    };
    addEventListener('online', goOnline);
    addEventListener('offline', goOffline);
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      stopped = true;
      clearTimeout(deliverTimer);
      for (const off of offs) off();
      removeEventListener('online', goOnline);
      removeEventListener('offline', goOffline);
      document.removeEventListener('visibilitychange', onVisibility);
      void client.close();
    };
  }, [client, session.userId, onSignedOut]);

  // Long-poll carries sequenced events only, not receipt.updated: while on it, the open conversations'
  // markers are read every few seconds so the sender's ticks still move.
  const polling = connection.status === 'open' && connection.transport === 'longpoll';
  useEffect(() => {
    if (!polling) return;
    const timer = setInterval(() => {
      // A failed poll is retried by the next one; a lost connection shows in the indicator.
      for (const id of opened.current) void receiptsLoader.current?.(id).catch(() => undefined);
    }, receiptPollMs);
    return () => clearInterval(timer);
  }, [polling]);

  const stateRef = useRef(state);
  stateRef.current = state;

  return {
    state,
    me,
    connection,
    online,
    presence,
    notice,
    dismissNotice: () => setNotice(undefined),

    open(conversationId) {
      if (opened.current.has(conversationId)) return;
      opened.current.add(conversationId);
      const summary = stateRef.current.conversations.find((c) => c.id === conversationId);
      const view = stateRef.current.views.get(conversationId);
      const before = view?.oldestSeq ?? (summary ? summary.lastSeq + 1 : undefined);
      void receiptsLoader.current?.(conversationId).catch((err: unknown) => setNotice(messageOf(err)));
      if (before === undefined || before <= 1) {
        dispatch({ type: 'history.loaded', conversationId, items: [], hasOlder: false });
        return;
      }
      // Enough to reach the first unread message, where the pane lands.
      const unreadBefore = summary ? Math.max(0, before - 1 - summary.readSeq) : 0;
      client
        .history(conversationId, { before, limit: Math.min(maxPage, Math.max(pageSize, unreadBefore + 5)) })
        .then((page) =>
          dispatch({ type: 'history.loaded', conversationId, items: page.items, hasOlder: page.hasMore }),
        )
        .catch((err: unknown) => setNotice(messageOf(err)));
    },

    async loadOlder(conversationId) {
      const before = stateRef.current.views.get(conversationId)?.oldestSeq;
      if (before === undefined || before <= 1) return false;
      try {
        const page = await client.history(conversationId, { before, limit: pageSize });
        dispatch({ type: 'history.loaded', conversationId, items: page.items, hasOlder: page.hasMore });
        return page.items.length > 0;
      } catch (err) {
        setNotice(`Could not load earlier messages: ${messageOf(err)}`);
        return false;
      }
    },

    send(conversationId, text, clientMsgId) {
      const id = clientMsgId ?? newClientMsgId();
      dispatch({
        type: 'send.started',
        pending: {
          clientMsgId: id,
          conversationId,
          text,
          createdAt: new Date().toISOString(),
          state: 'sending',
        },
      });
      // The same clientMsgId on a retry: the server creates the message once, however often it is sent.
      client.send(conversationId, { type: 'text', text }, { clientMsgId: id }).then(
        (answer) => dispatch({ type: 'send.acked', clientMsgId: id, seq: answer.seq }),
        (err: unknown) =>
          dispatch({
            type: 'send.failed',
            clientMsgId: id,
            error: messageOf(err),
            retryable: passingFailures.has((err as { code?: string }).code ?? ''),
          }),
      );
    },

    discard(clientMsgId) {
      dispatch({ type: 'send.discarded', clientMsgId });
    },

    async startConversation(input) {
      const created = await client.http<{ id: string }>('POST', '/v1/me/conversations', input);
      await conversationsLoader.current?.();
      return created.id;
    },

    async recall(messageId) {
      try {
        await client.recall(messageId);
      } catch (err) {
        const code = (err as { code?: string }).code;
        setNotice(
          code === 'recall_window_expired'
            ? 'Too late to recall that message.'
            : `Recall failed: ${messageOf(err)}`,
        );
      }
    },

    markRead(conversationId, seq) {
      const marks = sent.current.get(conversationId) ?? { delivered: 0, read: 0 };
      if (seq <= marks.read) return;
      sent.current.set(conversationId, { delivered: Math.max(marks.delivered, seq), read: seq });
      // Shown at once on this page; the server's receipt.updated confirms it on the others.
      dispatch({
        type: 'receipt.updated',
        receipt: {
          conversationId,
          userId: session.userId,
          deliveredSeq: Math.max(marks.delivered, seq),
          readSeq: seq,
        },
      });
      client.markReceipt(conversationId, { readSeq: seq }).catch((err: unknown) => setNotice(messageOf(err)));
    },
  };
}
