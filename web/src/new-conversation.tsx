// Starting a conversation from the page (when the app allows it): pick people the user already shares a
// conversation with, or name others by user id; one person makes a direct conversation, more (or a title)
// a group. The user is always a member; the server checks the rest.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { NewConversation } from './chat-session.js';
import { nameOf, type ChatState } from './chat-state.js';

export function NewConversationForm(props: {
  state: ChatState;
  onStart(input: NewConversation): Promise<void>;
  onCancel(): void;
}) {
  const { state, onStart, onCancel } = props;
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [others, setOthers] = useState('');
  const [title, setTitle] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  const known = [...state.people.keys()]
    .filter((id) => id !== state.me)
    .sort((a, b) => nameOf(state, a).localeCompare(nameOf(state, b)));
  const typed = others
    .split(/[\s,]+/)
    .map((id) => id.trim())
    .filter((id) => id && id !== state.me);
  const members = [...new Set([...chosen, ...typed])];
  const kind = members.length === 1 && !title.trim() ? 'direct' : 'group';

  const toggle = (id: string) => {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setChosen(next);
    setError(undefined);
  };

  return (
    <section class="pane-inner new-conversation" aria-labelledby="new-title">
      <header class="pane-header">
        <button type="button" class="back" onClick={onCancel} aria-label="Back to conversations">
          ←
        </button>
        <h2 id="new-title">New conversation</h2>
      </header>
      <form
        class="new-conversation-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (members.length === 0) {
            setError('Choose someone, or type a user id.');
            return;
          }
          setBusy(true);
          onStart({ kind, members, ...(kind === 'group' && title.trim() ? { title: title.trim() } : {}) })
            .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)))
            .finally(() => setBusy(false));
        }}
      >
        {known.length > 0 && (
          <fieldset>
            <legend>People you chat with</legend>
            {known.map((id, i) => (
              <label class="person" key={id}>
                <input
                  ref={i === 0 ? first : undefined}
                  type="checkbox"
                  checked={chosen.has(id)}
                  onChange={() => toggle(id)}
                />
                <span>{nameOf(state, id)}</span>
                {nameOf(state, id) !== id && <span class="user-id">{id}</span>}
              </label>
            ))}
          </fieldset>
        )}
        <label for="new-others">Others, by user id</label>
        <input
          id="new-others"
          ref={known.length === 0 ? first : undefined}
          type="text"
          placeholder="e.g. dave, erin"
          value={others}
          onInput={(e) => {
            setOthers(e.currentTarget.value);
            setError(undefined);
          }}
        />
        <label for="new-title-input">Group name (optional)</label>
        <input
          id="new-title-input"
          type="text"
          maxLength={200}
          value={title}
          onInput={(e) => setTitle(e.currentTarget.value)}
        />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {kind === 'direct' ? `Chat with ${nameOf(state, members[0])}` : 'Create group'}
        </button>
      </form>
    </section>
  );
}
