// The signed-in page: top bar (who, connection, sign out), the conversation list, and the open conversation.
// Nothing opens by itself: signing in reads nothing, and a conversation is read only once the person chose it
// and its messages are on screen. On a phone-sized window the list and the conversation take turns.
import { useEffect, useState } from 'preact/hooks';
import { useChatSession } from './chat-session.js';
import { ConnectionIndicator } from './connection-indicator.js';
import { ConversationList } from './conversation-list.js';
import { MessagePane } from './message-pane.js';
import { NewConversationForm } from './new-conversation.js';
import type { Session } from './session.js';

export function Chat({ session, onSignOut }: { session: Session; onSignOut(reason?: string): void }) {
  const chat = useChatSession(session, onSignOut);
  const { state } = chat;
  const [selectedId, setSelectedId] = useState<string>();
  const [starting, setStarting] = useState(false);
  const selected = state.conversations.find((c) => c.id === selectedId);

  // The tab's title tells of unread messages while the page is in the background.
  const unread = state.conversations.reduce((n, c) => n + c.unread, 0);
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) oncely chat` : 'oncely chat';
  }, [unread]);

  useEffect(() => {
    if (selectedId) chat.open(selectedId);
    // open() is idempotent, but a new chat object each render must not re-run it.
  }, [selectedId]);

  const choose = (id: string | undefined) => {
    setStarting(false);
    setSelectedId(id);
  };

  return (
    <div class="chat" data-view={selected || starting ? 'conversation' : 'list'}>
      <header class="topbar">
        <h1>oncely</h1>
        <span class="me">
          <span class="me-label">Signed in as </span>
          <strong data-testid="me">{chat.me?.displayName ?? session.userId}</strong>
        </span>
        <ConnectionIndicator state={chat.connection} online={chat.online} />
        <button type="button" class="sign-out" onClick={() => onSignOut()}>
          Sign out
        </button>
      </header>
      {chat.notice && (
        <div class="notice" role="alert">
          {chat.notice}{' '}
          <button type="button" class="link" onClick={chat.dismissNotice}>
            Dismiss
          </button>
        </div>
      )}
      <nav class="sidebar" aria-label="Conversations">
        {chat.me?.canStartConversations && (
          <button
            type="button"
            class="new-conversation-button"
            aria-pressed={starting}
            onClick={() => {
              setSelectedId(undefined);
              setStarting(true);
            }}
          >
            New conversation
          </button>
        )}
        <ConversationList state={state} presence={chat.presence} selectedId={selectedId} onSelect={choose} />
      </nav>
      <main class="pane">
        {starting ? (
          <NewConversationForm
            state={state}
            onCancel={() => setStarting(false)}
            onStart={async (input) => choose(await chat.startConversation(input))}
          />
        ) : selected ? (
          <MessagePane
            key={selected.id}
            state={state}
            conversation={selected}
            recallWindowSeconds={chat.me?.recallWindowSeconds}
            onBack={() => choose(undefined)}
            onLoadOlder={() => chat.loadOlder(selected.id)}
            onSend={(text, clientMsgId) => chat.send(selected.id, text, clientMsgId)}
            onDiscard={chat.discard}
            onRecall={(messageId) => void chat.recall(messageId)}
            onRead={(seq) => chat.markRead(selected.id, seq)}
            presence={chat.presence}
          />
        ) : (
          <p class="empty">Choose a conversation.</p>
        )}
      </main>
    </div>
  );
}
