// What a signed-in user may do about conversations beyond reading and writing them (an addition to the
// app-made ones, docs/design.md): start a direct conversation or a group that includes themselves, unless
// the app has turned that off, and see the people they share a conversation with (their display names).
import type { Apps } from '../apps/apps.js';
import type { UserPrincipal } from '../apps/principal.js';
import { OncelyError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Conversations } from './conversations.js';

export interface StartConversation {
  kind: 'direct' | 'group';
  title?: string | null | undefined;
  /** The others; the user is always a member. */
  members: string[];
}

export interface Person {
  id: string;
  displayName: string | null;
}

export interface UserConversations {
  /** Creates the conversation (a direct pair that exists is returned with created=false). */
  start(user: UserPrincipal, input: StartConversation): ReturnType<Conversations['create']>;
  /** The user and everyone who is a current member of a conversation the user is a current member of. */
  people(user: UserPrincipal): Promise<Person[]>;
}

export function createUserConversations({
  store,
  apps,
  conversations,
}: {
  store: Store;
  apps: Apps;
  conversations: Conversations;
}): UserConversations {
  return {
    async start(user, input) {
      if (!(await apps.settings(user.appId)).usersCreateConversations) {
        throw OncelyError.of(
          'user_conversations_disabled',
          'this app does not let users start conversations; the app creates them',
        );
      }
      // Invariant 4: a user can only make conversations that include themselves.
      const members = [...new Set([user.userId, ...input.members])];
      if (input.kind === 'direct' && members.length !== 2) {
        throw OncelyError.of('invalid_members', 'a direct conversation is you and one other person');
      }
      return conversations.create(user.appId, {
        kind: input.kind,
        title: input.kind === 'group' ? input.title : undefined,
        members,
        // The one who starts a group may manage it (recall others' messages, as an app-made group's admins).
        admins: input.kind === 'group' ? [user.userId] : undefined,
      });
    },

    async people(user) {
      const rows = await store.db
        .selectFrom('members as mine')
        .innerJoin('members as theirs', (j) =>
          j
            .onRef('theirs.app_id', '=', 'mine.app_id')
            .onRef('theirs.conversation_id', '=', 'mine.conversation_id'),
        )
        .innerJoin('users', (j) =>
          j.onRef('users.app_id', '=', 'theirs.app_id').onRef('users.id', '=', 'theirs.user_id'),
        )
        .select(['users.id', 'users.display_name'])
        .distinct()
        .where('mine.app_id', '=', user.appId)
        .where('mine.user_id', '=', user.userId)
        .where('mine.left_pos', 'is', null)
        .where('theirs.left_pos', 'is', null)
        .orderBy('users.id')
        .execute();
      const people = rows.map((r) => ({ id: r.id, displayName: r.display_name }));
      if (people.some((p) => p.id === user.userId)) return people;
      // In no conversation yet: still themselves.
      const me = await apps.getUser(user.appId, user.userId);
      return [{ id: me.id, displayName: me.displayName }, ...people];
    },
  };
}
