// The composer: Enter sends, Shift+Enter starts a new line. The message shows at once as "sending". Its text
// is the pane's (so a failed send can be put back to be edited), and it takes the focus when the pane opens.
import type { RefObject } from 'preact';

export function Composer(props: {
  text: string;
  onText(text: string): void;
  onSend(text: string): void;
  inputRef: RefObject<HTMLTextAreaElement>;
  disabled?: boolean;
}) {
  const { text, onText, onSend, inputRef, disabled } = props;
  const submit = () => {
    const trimmed = text.trim();
    if (!trimmed) return;
    onSend(trimmed);
    onText('');
    inputRef.current?.focus();
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label for="composer-input" class="visually-hidden">
        Message
      </label>
      <textarea
        id="composer-input"
        ref={inputRef}
        rows={1}
        placeholder="Write a message"
        value={text}
        disabled={disabled}
        onInput={(e) => onText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
      />
      <button type="submit" disabled={disabled || text.trim() === ''}>
        Send
      </button>
    </form>
  );
}
