// The open conversation: its messages in seq order with a separator per day, a button to page back through
// history, the sends in flight, and the composer. It opens on the first unread message, under a "new
// messages" divider, and only messages of others that come into view are reported as read. Typing signals go
// out as the user composes.
import { Fragment } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import {
  firstUnreadSeq,
  nameOf,
  orderedEvents,
  statusOf,
  type ChatState,
  type ConversationSummary,
  type PendingSend,
} from './chat-state.js';
import { Composer } from './composer.js';
import { ConversationHeader } from './conversation-header.js';
import { conversationTitle } from './conversation-list.js';
import { dayLabel, sameDay } from './dates.js';
import { asSeenAt } from './expiry.js';
import { MessageItem, PendingItem } from './message-item.js';
import type { PresenceView } from './presence.js';

/** Mostly on screen: 60 % of the message, or half the pane for a message taller than that. */
function seen(entry: IntersectionObserverEntry): boolean {
  if (!entry.isIntersecting) return false;
  const paneHeight = entry.rootBounds?.height ?? Infinity;
  return entry.intersectionRatio >= 0.6 || entry.intersectionRect.height >= paneHeight / 2;
}

export interface MessagePaneProps {
  state: ChatState;
  conversation: ConversationSummary;
  recallWindowSeconds: number | undefined;
  onBack(): void;
  /** Resolves true once an older page is in the state, false when it could not be loaded. */
  onLoadOlder(): Promise<boolean>;
  onSend(text: string, clientMsgId?: string): void;
  onDiscard(clientMsgId: string): void;
  onRecall(messageId: string): void;
  onRead(seq: number): void;
  presence: PresenceView;
}

export function MessagePane(props: MessagePaneProps) {
  const { state, conversation, recallWindowSeconds, onRead } = props;
  const view = state.views.get(conversation.id);
  // Re-evaluated every few seconds so "Recall" leaves the menu when the window closes, and a message shows
  // as expired once past the conversation's retention.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(timer);
  }, []);
  const events = orderedEvents(view).map((e) => asSeenAt(e, conversation.retentionSeconds, now));
  const pending = state.pending.filter((p) => p.conversationId === conversation.id);
  const scroller = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const composerInput = useRef<HTMLTextAreaElement>(null);
  const [draft, setDraft] = useState('');
  // The read marker when the pane opened: the divider stays where the unread began while they are read.
  const [readAtOpen] = useState(conversation.readSeq);
  const dividerSeq = view?.loaded ? firstUnreadSeq(state, conversation.id, readAtOpen) : undefined;
  const landed = useRef(false);
  useEffect(() => composerInput.current?.focus(), []);
  // Set while an older page loads: the height and first seq before it, to keep the reader's place.
  const beforeOlder = useRef<{ height: number; firstSeq: number | undefined } | undefined>(undefined);
  const [loadingOlder, setLoadingOlder] = useState(false);

  // Keep the newest message in view while the reader is at the bottom; keep the place when paging back.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const anchor = beforeOlder.current;
    if (!landed.current) {
      // Once the first page is in: the first unread at the top (under its divider), else the newest.
      if (!view?.loaded) return;
      landed.current = true;
      const divider = el.querySelector<HTMLElement>('.unread-divider');
      if (divider) {
        el.scrollTop = divider.offsetTop - el.offsetTop - 8;
        stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        return;
      }
      el.scrollTop = el.scrollHeight;
    } else if (anchor) {
      // Renders in between (the button's "Loading…") change nothing; the page's arrival moves the anchor.
      if (events[0]?.seq !== anchor.firstSeq) {
        el.scrollTop += el.scrollHeight - anchor.height;
        beforeOlder.current = undefined;
      }
    } else if (stickToBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  // A tab coming back into view reads what is on screen (the observer only reports changes).
  const [shownAgain, setShownAgain] = useState(0);
  useEffect(() => {
    const onVisibility = () => document.visibilityState === 'visible' && setShownAgain((n) => n + 1);
    document.addEventListener('visibilitychange', onVisibility);
    return () => document.removeEventListener('visibilitychange', onVisibility);
  }, []);

  // Read receipts: the highest seq of another member's message that has been on screen.
  const readRef = useRef(onRead);
  readRef.current = onRead;
  const readSeq = conversation.readSeq;
  const lastEvent = events[events.length - 1]?.seq;
  const loaded = view?.loaded === true;
  useEffect(() => {
    const root = scroller.current;
    // Not before the pane has landed: a live message shown alone above a loading history is not read.
    if (!root || !loaded) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (document.visibilityState !== 'visible') return;
        let max = 0;
        for (const entry of entries) {
          if (!seen(entry)) continue;
          max = Math.max(max, Number((entry.target as HTMLElement).dataset.seq));
        }
        if (max > readSeq) readRef.current(max);
      },
      { root, threshold: [0, 0.25, 0.5, 0.6, 1] },
    );
    for (const el of root.querySelectorAll<HTMLElement>('[data-mine="false"]')) observer.observe(el);
    return () => observer.disconnect();
  }, [conversation.id, lastEvent, readSeq, shownAgain, loaded]);

  const loadOlder = async () => {
    beforeOlder.current = { height: scroller.current?.scrollHeight ?? 0, firstSeq: events[0]?.seq };
    setLoadingOlder(true);
    const loaded = await props.onLoadOlder();
    // Nothing arrived (a failure, shown as a notice): no anchor to keep.
    if (!loaded) beforeOlder.current = undefined;
    setLoadingOlder(false);
  };

  // A message the server refuses as it is (too large, say): its text goes back into the box to be changed,
  // and is sent as a new message (a new clientMsgId: the old one stays bound to the refused text).
  const editFailed = (p: PendingSend) => {
    props.onDiscard(p.clientMsgId);
    setDraft(draft.trim() ? `${draft}\n${p.text}` : p.text);
    composerInput.current?.focus();
  };

  const windowMs = recallWindowSeconds === undefined ? undefined : recallWindowSeconds * 1000;
  const canRecall = (createdAt: string) =>
    windowMs !== undefined && (windowMs === 0 || now - Date.parse(createdAt) < windowMs);
  const title = conversationTitle(conversation, state);

  return (
    <section class="pane-inner" aria-labelledby="pane-title">
      <ConversationHeader
        state={state}
        conversation={conversation}
        presence={props.presence}
        onBack={props.onBack}
      />
      <div
        class="messages"
        ref={scroller}
        tabIndex={0}
        aria-label={`Messages in ${title}`}
        onScroll={(e) => {
          const el = e.currentTarget;
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {view?.hasOlder && (
          <button type="button" class="older" onClick={loadOlder} disabled={loadingOlder}>
            {loadingOlder ? 'Loading…' : 'Load earlier messages'}
          </button>
        )}
        <ol class="message-list" role="log" aria-live="polite" aria-relevant="additions">
          {events.map((e, i) => {
            const previous = events[i - 1];
            const newDay = !previous || !sameDay(previous.createdAt, e.createdAt);
            return (
              <Fragment key={e.id}>
                {newDay && (
                  <li class="day-separator" role="separator" data-testid="day">
                    <span>{dayLabel(e.createdAt)}</span>
                  </li>
                )}
                {e.seq === dividerSeq && (
                  <li class="unread-divider" role="separator" data-testid="unread-divider">
                    <span>New messages</span>
                  </li>
                )}
                <MessageItem
                  event={e}
                  nameOf={(id) => nameOf(state, id)}
                  mine={e.senderId === state.me}
                  status={statusOf(state, e)}
                  showSender={conversation.kind === 'group' && (newDay || previous?.senderId !== e.senderId)}
                  canRecall={e.senderId === state.me && canRecall(e.createdAt)}
                  onRecall={() => props.onRecall(e.id)}
                />
              </Fragment>
            );
          })}
          {pending.map((p) => (
            <PendingItem
              key={p.clientMsgId}
              pending={p}
              onRetry={() => props.onSend(p.text, p.clientMsgId)}
              onEdit={() => editFailed(p)}
              onDiscard={() => props.onDiscard(p.clientMsgId)}
            />
          ))}
        </ol>
      </div>
      <Composer
        text={draft}
        onText={(text) => {
          setDraft(text);
          if (text.trim()) props.presence.composing(conversation.id);
        }}
        onSend={(text) => props.onSend(text)}
        inputRef={composerInput}
      />
    </section>
  );
}
