// One message in the pane: its text (or "message recalled", "message expired"), time (the full date on
// hover), the sender's status ticks, and the message's menu with "Recall" while the recall window is open.
// A send that failed offers Retry when the server was only unavailable, else Edit and Discard.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { WireEvent } from '../../client/index.js';
import type { MessageStatus, PendingSend } from './chat-state.js';
import { fullTime, timeOfDay } from './dates.js';

const tickText: Record<MessageStatus, string> = {
  sending: '◷',
  failed: '!',
  sent: '✓',
  delivered: '✓✓',
  read: '✓✓',
  recalled: '',
};

function Time({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} title={fullTime(iso)}>
      {timeOfDay(iso)}
    </time>
  );
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
  /** How to show a person (their display name). */
  nameOf(userId: string | null | undefined): string;
  mine: boolean;
  status: MessageStatus;
  showSender: boolean;
  canRecall: boolean;
  onRecall(): void;
}) {
  const { event, nameOf, mine, status, showSender, canRecall, onRecall } = props;
  if (event.type === 'member.added' || event.type === 'member.removed') {
    return (
      <li class="system-event" data-seq={event.seq}>
        {nameOf(event.userId)} {event.type === 'member.added' ? 'joined' : 'left'}
      </li>
    );
  }
  const expired = event.expired === true;
  const recalled = !expired && (event.recalled === true || event.body === null);
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
        {showSender && !mine && <span class="sender">{nameOf(event.senderId)}</span>}
        {expired ? (
          <p class="text expired">message expired</p>
        ) : recalled ? (
          <p class="text recalled">message recalled</p>
        ) : (
          <p class="text">{text}</p>
        )}
        <span class="meta">
          <Time iso={event.createdAt} />
          {mine && <StatusTick status={status} />}
        </span>
      </div>
      {canRecall && !recalled && !expired && <MessageMenu onRecall={onRecall} />}
    </li>
  );
}

export function PendingItem(props: {
  pending: PendingSend;
  onRetry(): void;
  /** Puts the text back into the composer to change it; the failed send goes. */
  onEdit(): void;
  onDiscard(): void;
}) {
  const { pending, onRetry, onEdit, onDiscard } = props;
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
          <Time iso={pending.createdAt} />
          <StatusTick status={status} />
        </span>
        {pending.state === 'failed' && (
          <span class="send-error" role="alert">
            Not sent: {pending.error}{' '}
            {pending.retryable ? (
              <button type="button" class="link" onClick={onRetry}>
                Retry
              </button>
            ) : (
              <>
                <button type="button" class="link" onClick={onEdit}>
                  Edit
                </button>{' '}
                <button type="button" class="link" onClick={onDiscard}>
                  Discard
                </button>
              </>
            )}
          </span>
        )}
      </div>
    </li>
  );
}
