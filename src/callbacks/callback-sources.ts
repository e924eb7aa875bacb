// Callback sources: who may call `POST /v1/apps/{appId}/callbacks/{sourceId}`, in which payload format,
// signed by which secrets. Secrets are kept raw (verification needs them) and answered only as hints.
import type { Clock } from '../clock.js';
import { OncelyError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { CallbackFormat } from './payload-formats.js';
import { clearSecrets, secretContext, type SecretBox } from '../store/secret-box.js';
import { checkSecret, createVerifier, secretHint, type Verifier } from './standard-webhooks.js';

export interface CallbackSource {
  appId: string;
  id: string;
  format: CallbackFormat;
  /** Null when the source has no secret: its callbacks are accepted unsigned. */
  verifier: Verifier | null;
}

export interface CallbackSourceView {
  id: string;
  format: CallbackFormat;
  signed: boolean;
  secrets: Array<{ hint: string }>;
  createdAt: string;
  updatedAt: string;
}

export interface PutSource {
  format: CallbackFormat;
  /** One secret or several (rotation); null or [] removes them; undefined keeps the current ones. */
  secret?: string | string[] | null | undefined;
}

/** How long a resolved source is reused without reading it again. */
const resolveCacheMs = 1000;

export function createCallbackSources({
  store,
  clock,
  secretBox = clearSecrets,
}: {
  store: Store;
  clock: Clock;
  /** Seals the sources' secrets at rest (store/secret-box.ts). @defaultValue stored in clear */
  secretBox?: SecretBox;
}) {
  const context = (appId: string, sourceId: string) =>
    secretContext('callback_sources', 'secrets', appId, sourceId);
  /** The source's secrets as JSON text, opened. */
  const secretsOf = (row: { app_id: string; id: string; secrets: string }) =>
    secretBox.open(row.secrets, context(row.app_id, row.id));
  // Verifiers decode their keys once; keyed by the stored secrets, so an update elsewhere is picked up.
  const verifiers = new Map<string, Verifier>();
  const resolved = new Map<string, { source: CallbackSource; until: number }>();

  function verifierFor(secretsJson: string): Verifier | null {
    const secrets = JSON.parse(secretsJson) as string[];
    if (secrets.length === 0) return null;
    let verifier = verifiers.get(secretsJson);
    if (!verifier) {
      if (verifiers.size > 1000) verifiers.clear();
      verifier = createVerifier(secrets);
      verifiers.set(secretsJson, verifier);
    }
    return verifier;
  }

  function view(row: {
    app_id: string;
    id: string;
    format: CallbackFormat;
    secrets: string;
    created_at: number;
    updated_at: number;
  }): CallbackSourceView {
    const secrets = JSON.parse(secretsOf(row)) as string[];
    return {
      id: row.id,
      format: row.format,
      signed: secrets.length > 0,
      secrets: secrets.map((s) => ({ hint: secretHint(s) })),
      createdAt: new Date(Number(row.created_at)).toISOString(),
      updatedAt: new Date(Number(row.updated_at)).toISOString(),
    };
  }

  return {
    /** Creates or replaces a source; returns whether it was created. */
    async put(
      appId: string,
      sourceId: string,
      input: PutSource,
    ): Promise<{ source: CallbackSourceView; created: boolean }> {
      const given =
        input.secret === undefined ? undefined : input.secret === null ? [] : [input.secret].flat();
      for (const secret of given ?? []) checkSecret(secret);
      const now = clock.now();
      const answer = await store.transaction(async (tx) => {
        const secrets = secretBox.seal(JSON.stringify([...new Set(given ?? [])]), context(appId, sourceId));
        // Insert first: two concurrent first puts of a source end as one create and one update.
        const inserted = await tx
          .insertInto('callback_sources')
          .values({
            app_id: appId,
            id: sourceId,
            format: input.format,
            secrets,
            created_at: now,
            updated_at: now,
          })
          .onConflict((oc) => oc.columns(['app_id', 'id']).doNothing())
          .executeTakeFirst();
        const created = Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
        if (!created) {
          // Without `secret` the source keeps its secrets.
          await tx
            .updateTable('callback_sources')
            .set({ format: input.format, updated_at: now, ...(given ? { secrets } : {}) })
            .where('app_id', '=', appId)
            .where('id', '=', sourceId)
            .execute();
        }
        const row = await tx
          .selectFrom('callback_sources')
          .selectAll()
          .where('app_id', '=', appId)
          .where('id', '=', sourceId)
          .executeTakeFirstOrThrow();
        return { source: view(row), created };
      });
      // After the commit, so that no callback caches the old source meanwhile.
      resolved.delete(`${appId}\n${sourceId}`);
      return answer;
    },

    /**
     * Opens a conversation made elsewhere (over REST) to the source: its callbacks may then add members there,
     * as in the conversations it created. 404 for an unknown source or conversation.
     */
    async openConversation(appId: string, sourceId: string, conversationId: string): Promise<void> {
      await this.get(appId, sourceId);
      const conv = await store.db
        .selectFrom('conversations')
        .select('id')
        .where('app_id', '=', appId)
        .where('id', '=', conversationId)
        .executeTakeFirst();
      if (!conv)
        throw OncelyError.of('conversation_not_found', `conversation ${conversationId} does not exist`);
      await store.db
        .insertInto('source_conversations')
        .values({
          app_id: appId,
          conversation_id: conversationId,
          source_id: sourceId,
          created_at: clock.now(),
        })
        .onConflict((oc) => oc.columns(['app_id', 'conversation_id', 'source_id']).doNothing())
        .execute();
    },

    /** Takes back the source's right to add members to a conversation (opened to it, or made by it). */
    async closeConversation(appId: string, sourceId: string, conversationId: string): Promise<void> {
      await this.get(appId, sourceId);
      await store.db
        .deleteFrom('source_conversations')
        .where('app_id', '=', appId)
        .where('conversation_id', '=', conversationId)
        .where('source_id', '=', sourceId)
        .execute();
    },

    async get(appId: string, sourceId: string): Promise<CallbackSourceView> {
      const row = await store.db
        .selectFrom('callback_sources')
        .selectAll()
        .where('app_id', '=', appId)
        .where('id', '=', sourceId)
        .executeTakeFirst();
      if (!row)
        throw OncelyError.of('callback_source_not_found', `callback source ${sourceId} does not exist`);
      return view(row);
    },

    /**
     * The source a callback names. Kept for at most `resolveCacheMs`, so that a busy source costs no query per
     * callback; a change made on another instance applies within that time (on this one at once).
     */
    async resolve(appId: string, sourceId: string): Promise<CallbackSource> {
      const cacheKey = `${appId}\n${sourceId}`;
      const hit = resolved.get(cacheKey);
      if (hit && hit.until > clock.now()) return hit.source;
      const row = await store.db
        .selectFrom('callback_sources')
        .select(['format', 'secrets'])
        .where('app_id', '=', appId)
        .where('id', '=', sourceId)
        .executeTakeFirst();
      if (!row)
        throw OncelyError.of('callback_source_not_found', `callback source ${sourceId} does not exist`);
      const source: CallbackSource = {
        appId,
        id: sourceId,
        format: row.format,
        verifier: verifierFor(secretsOf({ app_id: appId, id: sourceId, secrets: row.secrets })),
      };
      if (resolved.size > 1000) resolved.clear();
      resolved.set(cacheKey, { source, until: clock.now() + resolveCacheMs });
      return source;
    },
  };
}

export type CallbackSources = ReturnType<typeof createCallbackSources>;
