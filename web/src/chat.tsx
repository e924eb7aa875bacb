// The signed-in page: top bar (who, connection, sign out), the conversation list, and the open
// conversation. On a phone-sized window the list and the conversation take turns.
import { useEffect, useState } from 'preact/hooks';
import { useChatSession } from './chat-session.js';
import { ConnectionIndicator } from './connection-indicator.js';
import { ConversationList } from './conversation-list.js';
import { MessagePane } from './message-pane.js';
import type { Session } from './session.js';

const wide = () => matchMedia('(min-width: 720px)').matches;

export function Chat({ session, onSignOut }: { session: Session; onSignOut(reason?: string): void }) {
  const chat = useChatSession(session, onSignOut);
  const { state } = chat;
  const [selectedId, setSelectedId] = useState<string>();
  const selected = state.conversations.find((c) => c.id === selectedId);

  // On a wide window the first conversation opens by itself; on a phone the list comes first.
  useEffect(() => {
    if (selectedId === undefined && state.conversations[0] && wide())
      setSelectedId(state.conversations[0].id);
  }, [selectedId, state.conversations]);
  // The tab's title tells of unread messages while the page is in the background.
  const unread = state.conversations.reduce((n, c) => n + c.unread, 0);
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) oncely chat` : 'oncely chat';
  }, [unread]);

  useEffect(() => {
    if (selectedId) chat.open(selectedId);
    // open() is idempotent, but a new chat object each render must not re-run it.
  }, [selectedId]);

  return (
    <div class="chat" data-view={selected ? 'conversation' : 'list'}>
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
        <ConversationList
          conversations={state.conversations}
          me={state.me}
          selectedId={selectedId}
          onSelect={setSelectedId}
        />
      </nav>
      <main class="pane">
        {selected ? (
          <MessagePane
            key={selected.id}
            state={state}
            conversation={selected}
            recallWindowSeconds={chat.me?.recallWindowSeconds}
            onBack={() => setSelectedId(undefined)}
            onLoadOlder={() => chat.loadOlder(selected.id)}
            onSend={(text, clientMsgId) => chat.send(selected.id, text, clientMsgId)}
            onRecall={(messageId) => void chat.recall(messageId)}
            onRead={(seq) => chat.markRead(selected.id, seq)}
          />
        ) : (
          <p class="empty">Choose a conversation.</p>
        )}
      </main>
    </div>
  );
}
