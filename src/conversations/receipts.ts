// Delivered/read markers per (conversation, member). They only move forward: each update is conditional
// on the stored value being lower, so concurrent receipts can never move a marker back.
import { OncelyError } from '../errors.js';
import type { Actor, UserPrincipal } from '../apps/principal.js';
import type { Bus } from '../realtime/bus.js';
import type { Store } from '../store/store.js';
import { currentMembers, findMember, requireMembership, requireReadAccess } from './membership.js';

export interface Receipt {
  conversationId: string;
  userId: string;
  deliveredSeq: number;
  readSeq: number;
}

export function createReceipts({ store, bus }: { store: Store; bus: Bus }) {
  return {
    /** Every current member's markers, so a sender's device can show its messages' status after a reload. */
    async list(actor: Actor, conversationId: string): Promise<Receipt[]> {
      const { appId } = actor;
      await requireReadAccess(store.db, actor, conversationId);
      const rows = await currentMembers(store.db, appId, conversationId);
      return rows.map((r) => ({
        conversationId,
        userId: r.user_id,
        deliveredSeq: Number(r.delivered_seq),
        readSeq: Number(r.read_seq),
      }));
    },

    async update(
      user: UserPrincipal,
      conversationId: string,
      marks: { deliveredSeq?: number | undefined; readSeq?: number | undefined },
    ): Promise<Receipt> {
      const { appId, userId } = user;
      const { before, after } = await store.transaction(async (tx) => {
        const { conversation, member: before } = await requireMembership(tx, appId, conversationId, userId);
        const lastSeq = Number(conversation.last_seq);
        for (const [name, value] of Object.entries(marks)) {
          if (value !== undefined && value > lastSeq) {
            throw OncelyError.of(
              'seq_out_of_range',
              `${name} ${value} is past the conversation's last seq ${lastSeq}`,
            );
          }
        }
        // Reading a message implies it was delivered.
        const delivered = Math.max(marks.deliveredSeq ?? 0, marks.readSeq ?? 0);
        const member = (q: ReturnType<typeof tx.updateTable<'members'>>) =>
          q
            .where('app_id', '=', appId)
            .where('conversation_id', '=', conversationId)
            .where('user_id', '=', userId);
        if (delivered > 0) {
          await member(tx.updateTable('members').set({ delivered_seq: delivered }))
            .where('delivered_seq', '<', delivered)
            .execute();
        }
        if (marks.readSeq !== undefined) {
          await member(tx.updateTable('members').set({ read_seq: marks.readSeq }))
            .where('read_seq', '<', marks.readSeq)
            .execute();
        }
        const after = (await findMember(tx, appId, conversationId, userId))!;
        return { before, after };
      });
      const receipt: Receipt = {
        conversationId,
        userId,
        deliveredSeq: Number(after.delivered_seq),
        readSeq: Number(after.read_seq),
      };
      if (
        Number(before.delivered_seq) !== receipt.deliveredSeq ||
        Number(before.read_seq) !== receipt.readSeq
      ) {
        await bus.publish({ kind: 'receipt', appId, ...receipt });
      }
      return receipt;
    },
  };
}

export type Receipts = ReturnType<typeof createReceipts>;
