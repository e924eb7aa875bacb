// Who is online and who is typing, for the page. Presence is read per conversation (GET …/presence) at every
// (re)connect and for each conversation that joins the list, then kept current by `presence` frames; a
// `typing` frame shows for a few seconds, or until that person's message arrives. While the user composes,
// the page sends typing signals, at most one every two seconds per conversation.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { OncelyClient } from '../../client/index.js';
import type { ConversationSummary } from './chat-state.js';

/** How long a typing signal shows; a typist's page repeats it every `typingEveryMs` while typing goes on. */
export const typingShowMs = 5000;
export const typingEveryMs = 2000;
/** Presence reads in flight at once when many conversations load together. */
const loadsAtOnce = 6;

export interface PresenceView {
  /** False when the server has presence turned off (409 presence_disabled): nothing is shown. */
  enabled: boolean;
  /** Users with a live session anywhere. */
  online: ReadonlySet<string>;
  /** When each user was last seen (ISO), for those the server knows of. */
  lastSeen: ReadonlyMap<string, string>;
  /** Per conversation, who is typing there now, in the order they started. */
  typing: ReadonlyMap<string, readonly string[]>;
  /** The user is composing in the conversation: sends a typing signal unless one went out just now. */
  composing(conversationId: string): void;
}

interface PresenceItem {
  userId: string;
  online: boolean;
  lastSeenAt: string | null;
}

export function usePresence(client: OncelyClient, me: string, conversationIds: string[]): PresenceView {
  const [enabled, setEnabled] = useState(true);
  const [online, setOnline] = useState<ReadonlySet<string>>(new Set());
  const [lastSeen, setLastSeen] = useState<ReadonlyMap<string, string>>(new Map());
  /** conversation → user → until when (ms) the typing shows. */
  const [typingUntil, setTypingUntil] = useState<ReadonlyMap<string, ReadonlyMap<string, number>>>(new Map());
  const loaded = useRef(new Set<string>());
  /** When a frame last told of each user: a read that started before it is older news. */
  const frameAt = useRef(new Map<string, number>());
  const sentAt = useRef(new Map<string, number>());
  const [generation, setGeneration] = useState(0);

  const apply = (items: PresenceItem[], readStartedAt: number) => {
    const fresh = items.filter((i) => (frameAt.current.get(i.userId) ?? -1) < readStartedAt);
    setOnline((prev) => {
      const next = new Set(prev);
      for (const i of fresh) {
        if (i.online) next.add(i.userId);
        else next.delete(i.userId);
      }
      return next;
    });
    setLastSeen((prev) => {
      const next = new Map(prev);
      for (const i of fresh) if (i.lastSeenAt) next.set(i.userId, i.lastSeenAt);
      return next;
    });
  };

  const stopTyping = (conversationId: string, userId: string) =>
    setTypingUntil((prev) => {
      if (!prev.get(conversationId)?.has(userId)) return prev;
      const next = new Map(prev);
      const users = new Map(prev.get(conversationId));
      users.delete(userId);
      next.set(conversationId, users);
      return next;
    });

  // Frames: presence changes, typing, and a message that ends its sender's typing. Every (re)connect reads
  // presence again: changes while disconnected were not heard.
  useEffect(() => {
    const offs = [
      client.on('presence', (p) => {
        frameAt.current.set(p.userId, performance.now());
        apply([{ userId: p.userId, online: p.online, lastSeenAt: p.at }], Infinity);
      }),
      client.on('typing', ({ conversationId, userId }) => {
        if (userId === me) return;
        setTypingUntil((prev) => {
          const next = new Map(prev);
          next.set(conversationId, new Map(prev.get(conversationId)).set(userId, Date.now() + typingShowMs));
          return next;
        });
      }),
      client.on('event', (e) => {
        if (e.type === 'message.created' && e.senderId) stopTyping(e.conversationId, e.senderId);
      }),
      client.on('ready', () => {
        loaded.current.clear();
        setGeneration((g) => g + 1);
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [client, me]);

  // Reads the presence of the conversations not read since the last (re)connect.
  const key = conversationIds.join('\n');
  useEffect(() => {
    if (!enabled) return;
    const due = conversationIds.filter((id) => !loaded.current.has(id));
    for (const id of due) loaded.current.add(id);
    let stopped = false;
    const readOne = async (id: string) => {
      const startedAt = performance.now();
      try {
        const { items } = await client.http<{ items: PresenceItem[] }>(
          'GET',
          `/v1/conversations/${encodeURIComponent(id)}/presence`,
        );
        if (!stopped) apply(items, startedAt);
      } catch (err) {
        if ((err as { code?: string }).code === 'presence_disabled') setEnabled(false);
        // Otherwise read again at the next connect.
        else loaded.current.delete(id);
      }
    };
    void (async () => {
      for (let i = 0; i < due.length && !stopped; i += loadsAtOnce)
        await Promise.all(due.slice(i, i + loadsAtOnce).map(readOne));
    })();
    return () => {
      stopped = true;
    };
  }, [client, key, generation, enabled]);

  // Typing shows until its time is up: one timer, for the earliest end.
  useEffect(() => {
    let earliest = Infinity;
    for (const users of typingUntil.values())
      for (const until of users.values()) earliest = Math.min(earliest, until);
    if (earliest === Infinity) return;
    const timer = setTimeout(
      () =>
        setTypingUntil((prev) => {
          const now = Date.now();
          const next = new Map<string, ReadonlyMap<string, number>>();
          for (const [conversationId, users] of prev) {
            const left = new Map([...users].filter(([, until]) => until > now));
            if (left.size > 0) next.set(conversationId, left);
          }
          return next;
        }),
      Math.max(0, earliest - Date.now()),
    );
    return () => clearTimeout(timer);
  }, [typingUntil]);

  const typing = useMemo(() => {
    const view = new Map<string, string[]>();
    for (const [conversationId, users] of typingUntil)
      if (users.size > 0) view.set(conversationId, [...users.keys()]);
    return view;
  }, [typingUntil]);

  return {
    enabled,
    online,
    lastSeen,
    typing,
    composing(conversationId) {
      const now = Date.now();
      if (now - (sentAt.current.get(conversationId) ?? 0) < typingEveryMs) return;
      // Sent only over an open WebSocket; not counted as sent otherwise, so the next keystroke tries again.
      if (client.typing(conversationId)) sentAt.current.set(conversationId, now);
    },
  };
}

/** Whether another member of the conversation has a live session. */
export function anyoneOnline(c: ConversationSummary, me: string, presence: PresenceView): boolean {
  return presence.enabled && c.members.some((m) => m !== me && presence.online.has(m));
}
