// The list of the user's conversations: title, last message with its time, and unread count, live. People
// are shown by their display names.
import { nameOf, type ChatState, type ConversationSummary } from './chat-state.js';
import { fullTime, listTime } from './dates.js';

export function conversationTitle(c: ConversationSummary, state: ChatState): string {
  if (c.title) return c.title;
  const others = c.members.filter((m) => m !== state.me);
  return others.length > 0 ? others.map((m) => nameOf(state, m)).join(', ') : 'Just you';
}

function preview(c: ConversationSummary, state: ChatState): string {
  const last = c.lastMessage;
  if (!last) return 'No messages yet';
  const who =
    last.senderId === state.me
      ? 'You: '
      : c.kind === 'group' && last.senderId
        ? `${nameOf(state, last.senderId)}: `
        : '';
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
  selectedId: string | undefined;
  onSelect(id: string): void;
}) {
  const { state, selectedId, onSelect } = props;
  const { conversations } = state;
  if (conversations.length === 0) return <p class="empty">No conversations yet.</p>;
  return (
    <ul class="conversation-list">
      {byLatest(conversations).map((c) => {
        const title = conversationTitle(c, state);
        const at = c.lastMessage?.createdAt;
        return (
          <li key={c.id}>
            <button
              type="button"
              class="conversation"
              data-conversation-id={c.id}
              aria-current={c.id === selectedId ? 'true' : undefined}
              aria-label={`${title}${c.unread > 0 ? `, ${c.unread} unread` : ''}`}
              onClick={() => onSelect(c.id)}
            >
              <span class="conversation-title">{title}</span>
              {at && (
                <time class="conversation-time" dateTime={at} title={fullTime(at)}>
                  {listTime(at)}
                </time>
              )}
              <span class="conversation-preview">{preview(c, state)}</span>
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
