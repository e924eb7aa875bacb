// One message in the pane: its text (or "message recalled"), time, the sender's status ticks, and the
// message's menu with "Recall" while the recall window is open.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { WireEvent } from '../../client/index.js';
import type { MessageStatus, PendingSend } from './chat-state.js';

const tickText: Record<MessageStatus, string> = {
  sending: '◷',
  failed: '!',
  sent: '✓',
  delivered: '✓✓',
  read: '✓✓',
  recalled: '',
};

function time(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function StatusTick({ status }: { status: MessageStatus }) {
  if (status === 'recalled') return null;
  return (
    <span class={`status status-${status}`} data-testid="status" title={status} aria-label={status}>
      {tickText[status]}
    </span>
  );
}

function MessageMenu({ onRecall }: { onRecall(): void }) {
  const [open, setOpen] = useState(false);
  const first = useRef<HTMLButtonElement>(null);
  const toggle = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);
  const close = () => {
    setOpen(false);
    toggle.current?.focus();
  };
  return (
    <div class="message-menu" onKeyDown={(e) => e.key === 'Escape' && open && close()}>
      <button
        ref={toggle}
        type="button"
        class="menu-toggle"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label="Message actions"
        onClick={() => setOpen(!open)}
      >
        ⋯
      </button>
      {open && (
        <div role="menu" class="menu">
          <button
            ref={first}
            type="button"
            role="menuitem"
            onClick={() => {
              setOpen(false);
              onRecall();
            }}
          >
            Recall
          </button>
        </div>
      )}
    </div>
  );
}

export function MessageItem(props: {
  event: WireEvent;
  mine: boolean;
  status: MessageStatus;
  showSender: boolean;
  canRecall: boolean;
  onRecall(): void;
}) {
  const { event, mine, status, showSender, canRecall, onRecall } = props;
  if (event.type === 'member.added' || event.type === 'member.removed') {
    return (
      <li class="system-event" data-seq={event.seq}>
        {event.userId} {event.type === 'member.added' ? 'joined' : 'left'}
      </li>
    );
  }
  const recalled = event.recalled === true || event.body === null;
  const text = event.body?.type === 'text' ? event.body.text : '[custom message]';
  return (
    <li
      class={`message ${mine ? 'mine' : 'theirs'}`}
      data-testid="message"
      data-seq={event.seq}
      data-message-id={event.id}
      data-status={status}
      data-mine={mine ? 'true' : 'false'}
    >
      <div class="bubble">
        {showSender && !mine && <span class="sender">{event.senderId}</span>}
        {recalled ? <p class="text recalled">message recalled</p> : <p class="text">{text}</p>}
        <span class="meta">
          <time dateTime={event.createdAt}>{time(event.createdAt)}</time>
          {mine && <StatusTick status={status} />}
        </span>
      </div>
      {canRecall && !recalled && <MessageMenu onRecall={onRecall} />}
    </li>
  );
}

export function PendingItem({ pending, onRetry }: { pending: PendingSend; onRetry(): void }) {
  const status: MessageStatus = pending.state;
  return (
    <li
      class="message mine pending"
      data-testid="message"
      data-status={status}
      data-client-msg-id={pending.clientMsgId}
    >
      <div class="bubble">
        <p class="text">{pending.text}</p>
        <span class="meta">
          <time dateTime={pending.createdAt}>{time(pending.createdAt)}</time>
          <StatusTick status={status} />
        </span>
        {pending.state === 'failed' && (
          <span class="send-error" role="alert">
            Not sent: {pending.error}{' '}
            <button type="button" class="link" onClick={onRetry}>
              Retry
            </button>
          </span>
        )}
      </div>
    </li>
  );
}
