// Recall: the sender within the window, a conversation admin, or the app erase a message's body and append
// a sequenced `message.recalled` event, so online, remote and offline devices all learn of it in order.
import type { Clock } from '../clock.js';
import { OncelyError } from '../errors.js';
import type { Actor } from '../apps/principal.js';
import type { Bus } from '../realtime/bus.js';
import type { Store } from '../store/store.js';
import type { AppendedEvent, EventLog } from './event-log.js';
import { toWireEvent, type WireEvent } from './events.js';
import { requireMember } from './membership.js';

export interface RecallResult {
  messageId: string;
  conversationId: string;
  recalledAt: string;
  /** The message.recalled event; on a repeated recall, the one the first recall appended. */
  event: WireEvent;
}

export interface RecallDeps {
  store: Store;
  bus: Bus;
  clock: Clock;
  /** The message.recalled event is appended through the event log, like every event. */
  events: EventLog;
  recallWindowSeconds: number;
}

export function createRecall(deps: RecallDeps) {
  const { store, bus, clock } = deps;

  return {
    async recall(actor: Actor, messageId: string): Promise<RecallResult> {
      let published: AppendedEvent | undefined;
      const result = await store.transaction(async (tx): Promise<RecallResult> => {
        const read = () =>
          tx
            .selectFrom('events')
            .selectAll()
            .where('app_id', '=', actor.appId)
            .where('id', '=', messageId)
            .where('type', '=', 'message.created')
            .executeTakeFirst();
        const found = await read();
        if (!found) throw OncelyError.of('message_not_found', `message ${messageId} does not exist`);
        // Lock order: the conversation first; read again under its lock, so that two concurrent recalls of
        // one message append one message.recalled between them.
        await store.lockConversations(tx, [{ appId: actor.appId, conversationId: found.conversation_id }]);
        const message = (await read())!;
        const now = clock.now();
        if (actor.kind === 'user') {
          const member = await requireMember(tx, actor.appId, message.conversation_id, actor.userId);
          if (member.role !== 'admin') {
            if (message.sender_id !== actor.userId)
              throw OncelyError.of('not_sender', 'only the sender or an admin may recall');
            const windowMs = deps.recallWindowSeconds * 1000;
            if (windowMs > 0 && now - Number(message.created_at) > windowMs) {
              throw OncelyError.of(
                'recall_window_expired',
                `messages can be recalled within ${deps.recallWindowSeconds} s`,
              );
            }
          }
        }
        if (message.recalled_at !== null) {
          // A repeated recall changes nothing and answers like the first.
          const first = await tx
            .selectFrom('events')
            .selectAll()
            .where('app_id', '=', actor.appId)
            .where('conversation_id', '=', message.conversation_id)
            .where('type', '=', 'message.recalled')
            .where('subject_id', '=', messageId)
            .executeTakeFirstOrThrow();
          return {
            messageId,
            conversationId: message.conversation_id,
            recalledAt: new Date(Number(message.recalled_at)).toISOString(),
            event: toWireEvent(first),
          };
        }
        await tx
          .updateTable('events')
          .set({ body: null, recalled_at: now })
          .where('app_id', '=', actor.appId)
          .where('id', '=', messageId)
          .execute();
        [published] = await deps.events.append(
          tx,
          [
            {
              appId: actor.appId,
              conversationId: message.conversation_id,
              type: 'message.recalled',
              senderId: actor.kind === 'user' ? actor.userId : null,
              body: null,
              subjectId: messageId,
            },
          ],
          now,
        );
        return {
          messageId,
          conversationId: message.conversation_id,
          recalledAt: new Date(now).toISOString(),
          event: published!.event,
        };
      });
      if (published) {
        // The erased body must not survive in the database files either.
        await store.scrub();
        await bus.publish({ kind: 'event', ...published });
      }
      return result;
    },
  };
}

export type Recall = ReturnType<typeof createRecall>;
