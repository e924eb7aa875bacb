// Apps, their API keys and their users. An API key is shown once and stored only as its sha256.
import { newId, randomSecret, type Clock } from '../clock.js';
import { OncelyError } from '../errors.js';
import { sha256 } from '../idempotency/fingerprint.js';
import { clearSecrets, secretContext, type SecretBox } from '../store/secret-box.js';
import type { Store } from '../store/store.js';

export const apiKeyPrefix = 'oky_';

export interface AppView {
  id: string;
  name: string;
  createdAt: string;
}

/** What an app decides for its users. */
export interface AppSettings {
  /** Whether users may start conversations themselves (POST /v1/me/conversations). Default true. */
  usersCreateConversations: boolean;
}

export interface UserView {
  id: string;
  displayName: string | null;
  createdAt: string;
  updatedAt: string;
}

export function createApps({
  store,
  clock,
  secretBox = clearSecrets,
}: {
  store: Store;
  clock: Clock;
  /** Seals the token signing secrets at rest (store/secret-box.ts). @defaultValue stored in clear */
  secretBox?: SecretBox;
}) {
  const { db } = store;
  const tokenSecretContext = (appId: string) => secretContext('apps', 'token_secret', appId);

  async function settings(appId: string): Promise<AppSettings> {
    const row = await db
      .selectFrom('apps')
      .select('users_create_conversations')
      .where('id', '=', appId)
      .executeTakeFirst();
    if (!row) throw OncelyError.of('app_not_found', `app ${appId} does not exist`);
    return { usersCreateConversations: Number(row.users_create_conversations) === 1 };
  }

  return {
    async createApp(name: string): Promise<AppView & { apiKey: string }> {
      const id = newId();
      const apiKey = `${apiKeyPrefix}${randomSecret(32)}`;
      const now = clock.now();
      await store.transaction(async (tx) => {
        await tx
          .insertInto('apps')
          .values({
            id,
            name,
            token_secret: secretBox.seal(randomSecret(32), tokenSecretContext(id)),
            created_at: now,
          })
          .execute();
        await tx
          .insertInto('api_keys')
          .values({ key_hash: sha256(apiKey), app_id: id, created_at: now })
          .execute();
      });
      return { id, name, apiKey, createdAt: new Date(now).toISOString() };
    },

    /** The app an API key belongs to. Looked up by hash: the key itself is never compared or stored. */
    async appForApiKey(apiKey: string): Promise<string | undefined> {
      const row = await db
        .selectFrom('api_keys')
        .select('app_id')
        .where('key_hash', '=', sha256(apiKey))
        .executeTakeFirst();
      return row?.app_id;
    },

    async tokenSecret(appId: string): Promise<string | undefined> {
      const row = await db
        .selectFrom('apps')
        .select('token_secret')
        .where('id', '=', appId)
        .executeTakeFirst();
      return row && secretBox.open(row.token_secret, tokenSecretContext(appId));
    },

    /** Gives the app a new token secret; false when there is no such app. */
    async rotateTokenSecret(appId: string): Promise<boolean> {
      const res = await db
        .updateTable('apps')
        .set({ token_secret: secretBox.seal(randomSecret(32), tokenSecretContext(appId)) })
        .where('id', '=', appId)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    settings,

    async updateSettings(appId: string, patch: Partial<AppSettings>): Promise<AppSettings> {
      if (patch.usersCreateConversations !== undefined) {
        await db
          .updateTable('apps')
          .set({ users_create_conversations: patch.usersCreateConversations ? 1 : 0 })
          .where('id', '=', appId)
          .execute();
      }
      return settings(appId);
    },

    /** Creates or updates a user; returns whether it was created. */
    async upsertUser(
      appId: string,
      userId: string,
      displayName: string | null | undefined,
    ): Promise<{ user: UserView; created: boolean }> {
      const now = clock.now();
      return store.transaction(async (tx) => {
        const row = {
          app_id: appId,
          id: userId,
          display_name: displayName ?? null,
          created_at: now,
          updated_at: now,
        };
        // Insert first: of two concurrent creates of one user, the second waits for the first and then
        // finds its row, instead of both finding none and one failing on the primary key.
        const inserted = await tx
          .insertInto('users')
          .values(row)
          .onConflict((oc) => oc.columns(['app_id', 'id']).doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return { created: true, user: userView(row) };
        if (displayName !== undefined) {
          await tx
            .updateTable('users')
            .set({ display_name: displayName, updated_at: now })
            .where('app_id', '=', appId)
            .where('id', '=', userId)
            .execute();
        }
        const existing = await tx
          .selectFrom('users')
          .selectAll()
          .where('app_id', '=', appId)
          .where('id', '=', userId)
          .executeTakeFirstOrThrow();
        return { created: false, user: userView(existing) };
      });
    },

    async getUser(appId: string, userId: string): Promise<UserView> {
      const row = await db
        .selectFrom('users')
        .selectAll()
        .where('app_id', '=', appId)
        .where('id', '=', userId)
        .executeTakeFirst();
      if (!row) throw OncelyError.of('user_not_found', `user ${userId} does not exist`);
      return userView(row);
    },
  };
}

function userView(row: {
  id: string;
  display_name: string | null;
  created_at: number;
  updated_at: number;
}): UserView {
  return {
    id: row.id,
    displayName: row.display_name,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
  };
}

export type Apps = ReturnType<typeof createApps>;
