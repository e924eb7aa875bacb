// The open conversation's header: its title with, under it, who is typing (for a few seconds after each
// signal) or else who is online; the members; and how long messages are kept when the conversation has a
// retention. Online dots here and in the list come from the page's presence view (presence.ts).
import { nameOf, type ChatState, type ConversationSummary } from './chat-state.js';
import { conversationTitle } from './conversation-list.js';
import { fullTime, listTime, timeOfDay } from './dates.js';
import { retentionText } from './expiry.js';
import { anyoneOnline, type PresenceView } from './presence.js';

/** "alice is typing…", "alice and bob are typing…", "3 people are typing…". */
export function typingText(names: string[]): string {
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

function presenceText(c: ConversationSummary, state: ChatState, presence: PresenceView): string | undefined {
  if (!presence.enabled) return undefined;
  const others = c.members.filter((m) => m !== state.me);
  if (c.kind === 'direct' && others.length === 1) {
    const other = others[0]!;
    if (presence.online.has(other)) return 'online';
    const seen = presence.lastSeen.get(other);
    if (!seen) return 'offline';
    const when = listTime(seen);
    return `last seen ${when === timeOfDay(seen) ? `at ${when}` : when}`;
  }
  const count = others.filter((m) => presence.online.has(m)).length;
  return `${count} of ${others.length} online`;
}

export function ConversationHeader(props: {
  state: ChatState;
  conversation: ConversationSummary;
  presence: PresenceView;
  onBack(): void;
}) {
  const { state, conversation, presence, onBack } = props;
  const typing = (presence.typing.get(conversation.id) ?? []).map((u) => nameOf(state, u));
  const status = typing.length > 0 ? typingText(typing) : presenceText(conversation, state, presence);
  const online = anyoneOnline(conversation, state.me, presence);
  const seen = presence.lastSeen.get(conversation.members.find((m) => m !== state.me) ?? '');
  const retention = conversation.retentionSeconds ?? 0;
  return (
    <header class="pane-header">
      <button type="button" class="back" onClick={onBack} aria-label="Back to conversations">
        ←
      </button>
      {presence.enabled && (
        <span class="presence-dot" data-testid="header-presence" data-online={online} aria-hidden="true" />
      )}
      <div class="pane-heading">
        <h2 id="pane-title">{conversationTitle(conversation, state)}</h2>
        {status && (
          <span
            class={typing.length > 0 ? 'pane-status typing' : 'pane-status'}
            data-testid={typing.length > 0 ? 'typing' : 'presence'}
            title={!online && seen ? fullTime(seen) : undefined}
            aria-live="polite"
          >
            {status}
          </span>
        )}
      </div>
      <span class="members">{conversation.members.map((m) => nameOf(state, m)).join(', ')}</span>
      {retention > 0 && (
        <span class="retention" data-testid="retention" title="Older messages are erased">
          Messages disappear after {retentionText(retention)}
        </span>
      )}
    </header>
  );
}
