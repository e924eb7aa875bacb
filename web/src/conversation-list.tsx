// The list of the user's conversations: title, last message and unread count, live.
import type { ConversationSummary } from './chat-state.js';

export function conversationTitle(c: ConversationSummary, me: string): string {
  if (c.title) return c.title;
  const others = c.members.filter((m) => m !== me);
  return others.length > 0 ? others.join(', ') : 'Just you';
}

function preview(c: ConversationSummary, me: string): string {
  const last = c.lastMessage;
  if (!last) return 'No messages yet';
  const who =
    last.senderId === me ? 'You: ' : c.kind === 'group' && last.senderId ? `${last.senderId}: ` : '';
  if (last.recalled || !last.body) return `${who}message recalled`;
  return who + (last.body.type === 'text' ? last.body.text : '[custom message]');
}

/** The most recently active first; conversations without messages keep their order, last. */
function byLatest(conversations: ConversationSummary[]): ConversationSummary[] {
  const at = (c: ConversationSummary) => c.lastMessage?.createdAt ?? '';
  return [...conversations].sort((a, b) => (at(a) === at(b) ? 0 : at(a) < at(b) ? 1 : -1));
}

export function ConversationList(props: {
  conversations: ConversationSummary[];
  me: string;
  selectedId: string | undefined;
  onSelect(id: string): void;
}) {
  const { conversations, me, selectedId, onSelect } = props;
  if (conversations.length === 0) return <p class="empty">No conversations yet.</p>;
  return (
    <ul class="conversation-list">
      {byLatest(conversations).map((c) => {
        const title = conversationTitle(c, me);
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
              <span class="conversation-preview">{preview(c, me)}</span>
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
