// The list of the user's conversations: title with a dot when another member is online, last message with
// its time, and unread count, live. People are shown by their display names.
import { useEffect, useState } from 'preact/hooks';
import { nameOf, type ChatState, type ConversationSummary } from './chat-state.js';
import { fullTime, listTime } from './dates.js';
import { asSeenAt } from './expiry.js';
import { anyoneOnline, type PresenceView } from './presence.js';

export function conversationTitle(c: ConversationSummary, state: ChatState): string {
  if (c.title) return c.title;
  const others = c.members.filter((m) => m !== state.me);
  return others.length > 0 ? others.map((m) => nameOf(state, m)).join(', ') : 'Just you';
}

function preview(c: ConversationSummary, state: ChatState, now: number): string {
  const last = c.lastMessage && asSeenAt(c.lastMessage, c.retentionSeconds, now);
  if (!last) return 'No messages yet';
  const who =
    last.senderId === state.me
      ? 'You: '
      : c.kind === 'group' && last.senderId
        ? `${nameOf(state, last.senderId)}: `
        : '';
  if (last.expired) return `${who}message expired`;
  if (last.recalled || !last.body) return `${who}message recalled`;
  return who + (last.body.type === 'text' ? last.body.text : '[custom message]');
}

/** The most recently active first; conversations without messages keep their order, last. */
function byLatest(conversations: ConversationSummary[]): ConversationSummary[] {
  const at = (c: ConversationSummary) => c.lastMessage?.createdAt ?? '';
  return [...conversations].sort((a, b) => (at(a) === at(b) ? 0 : at(a) < at(b) ? 1 : -1));
}

export function ConversationList(props: {
  state: ChatState;
  presence: PresenceView;
  selectedId: string | undefined;
  onSelect(id: string): void;
}) {
  const { state, presence, selectedId, onSelect } = props;
  const { conversations } = state;
  // A last message may expire while the list is on screen: looked at again every few seconds.
  const expiring = conversations.some((c) => (c.retentionSeconds ?? 0) > 0);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!expiring) return;
    const timer = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(timer);
  }, [expiring]);
  if (conversations.length === 0) return <p class="empty">No conversations yet.</p>;
  return (
    <ul class="conversation-list">
      {byLatest(conversations).map((c) => {
        const title = conversationTitle(c, state);
        const at = c.lastMessage?.createdAt;
        const online = anyoneOnline(c, state.me, presence);
        return (
          <li key={c.id}>
            <button
              type="button"
              class="conversation"
              data-conversation-id={c.id}
              data-online={presence.enabled ? online : undefined}
              aria-current={c.id === selectedId ? 'true' : undefined}
              aria-label={`${title}${c.unread > 0 ? `, ${c.unread} unread` : ''}`}
              onClick={() => onSelect(c.id)}
            >
              <span class="conversation-title">
                {presence.enabled && (
                  <span class="presence-dot" data-online={online} title={online ? 'online' : 'offline'} />
                )}
                {title}
              </span>
              {at && (
                <time class="conversation-time" dateTime={at} title={fullTime(at)}>
                  {listTime(at)}
                </time>
              )}
              <span class="conversation-preview">{preview(c, state, now)}</span>
              {c.unread > 0 && (
                <span class="unread" data-testid="unread" aria-hidden="true">
                  {c.unread}
                </span>
              )}
            </button>
          </li>
        );
      })}
    </ul>
  );
}
