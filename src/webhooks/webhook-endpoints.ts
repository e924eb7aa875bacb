// Webhook endpoints: where an app's events are delivered, which types, in which order, signed by which
// secrets. Secrets are kept raw (signing needs them), shown once when made, and answered only as hints.
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import { checkSecret, secretHint } from '../callbacks/standard-webhooks.js';
import { clearSecrets, secretContext, type SecretBox } from '../store/secret-box.js';
import { OncelyError } from '../errors.js';
import type { Database, EventType, WebhookEndpointsTable } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { checkUrlAtRegistration, type ResolveAll } from './address-guard.js';
import { generateSecret } from './signatures.js';

/** During a rotation the previous secret keeps signing this long (contract: 24 h). */
export const secretOverlapMs = 24 * 3600 * 1000;

/** How long an app's endpoints are reused without reading them again (across instances; at once on this one). */
const cacheMs = 1000;

interface StoredSecret {
  secret: string;
  /** Null for the current secret; a rotated one signs until then. */
  expiresAt: number | null;
}

/** An endpoint as the outbox writer and the dispatcher use it. */
export interface ActiveEndpoint {
  appId: string;
  id: string;
  url: string;
  /** Null: every event type. */
  events: ReadonlySet<EventType> | null;
  enabled: boolean;
  ordered: boolean;
  secrets: readonly StoredSecret[];
}

export interface EndpointInput {
  url: string;
  events?: EventType[] | null | undefined;
  enabled?: boolean | undefined;
  ordered?: boolean | undefined;
  secret?: string | undefined;
}

export interface EndpointView {
  id: string;
  url: string;
  events: EventType[] | null;
  enabled: boolean;
  ordered: boolean;
  /** `gone` when the receiver answered 410 and the server disabled the endpoint. */
  disabledReason: string | null;
  secrets: Array<{ hint: string; expiresAt: string | null }>;
  createdAt: string;
  updatedAt: string;
  /** Only in the answer that made the secret: never shown again. */
  secret?: string;
}

export interface WebhookEndpointsOptions {
  store: Store;
  clock: Clock;
  allowPrivate: boolean;
  /** DNS for the registration check; the system resolver unless a test gives another. */
  resolveAll?: ResolveAll;
  /** Called after an endpoint was disabled, so that its pending deliveries become dead letters. */
  onDisabled?: (tx: Tx, appId: string, endpointId: string, reason: string) => Promise<void>;
  /** Seals the endpoints' secrets at rest (store/secret-box.ts). @defaultValue stored in clear */
  secretBox?: SecretBox;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

/** An endpoint's secrets as stored: sealed at rest when a key is configured (store/secret-box.ts). */
function parseSecrets(row: WebhookEndpointsTable, box: SecretBox): StoredSecret[] {
  return JSON.parse(box.open(row.secrets, secretsContext(row.app_id, row.id))) as StoredSecret[];
}

const secretsContext = (appId: string, endpointId: string) =>
  secretContext('webhook_endpoints', 'secrets', appId, endpointId);

function toView(row: WebhookEndpointsTable, box: SecretBox): EndpointView {
  return {
    id: row.id,
    url: row.url,
    events: row.events === null ? null : (JSON.parse(row.events) as EventType[]),
    enabled: Number(row.enabled) === 1,
    ordered: Number(row.ordered) === 1,
    disabledReason: row.disabled_reason,
    secrets: parseSecrets(row, box).map((s) => ({
      hint: secretHint(s.secret),
      expiresAt: iso(s.expiresAt),
    })),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

function toActive(row: WebhookEndpointsTable, box: SecretBox): ActiveEndpoint {
  return {
    appId: row.app_id,
    id: row.id,
    url: row.url,
    events: row.events === null ? null : new Set(JSON.parse(row.events) as EventType[]),
    enabled: Number(row.enabled) === 1,
    ordered: Number(row.ordered) === 1,
    secrets: parseSecrets(row, box),
  };
}

export function createWebhookEndpoints(options: WebhookEndpointsOptions) {
  const { store, clock, secretBox = clearSecrets } = options;
  const view = (row: WebhookEndpointsTable) => toView(row, secretBox);
  /** The endpoint's secrets as JSON text, sealed for storage. */
  const sealed = (appId: string, id: string, secrets: StoredSecret[]) =>
    secretBox.seal(JSON.stringify(secrets), secretsContext(appId, id));
  const cache = new Map<string, { endpoints: ActiveEndpoint[]; until: number }>();

  /**
   * Drops an app's cached endpoints. Called last inside a changing transaction and again after its commit:
   * a writer transaction that runs after the commit (one at a time on SQLite) reads the change, and none
   * can keep an entry cached from before it while the commit is being flushed.
   */
  function forget(appId: string): void {
    cache.delete(appId);
  }

  async function find(
    tx: Kysely<Database>,
    appId: string,
    id: string,
  ): Promise<WebhookEndpointsTable | undefined> {
    return tx
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async function existing(tx: Tx, appId: string, id: string): Promise<WebhookEndpointsTable> {
    const row = await find(tx, appId, id);
    if (!row) throw OncelyError.of('webhook_endpoint_not_found', `webhook endpoint ${id} does not exist`);
    return row;
  }

  /** Disables inside `tx`, with the reason the app will see; pending deliveries become dead letters. */
  async function disableIn(tx: Tx, appId: string, id: string, reason: string | null, now: number) {
    await tx
      .updateTable('webhook_endpoints')
      .set({ enabled: 0, disabled_reason: reason, updated_at: now })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .execute();
    await options.onDisabled?.(tx, appId, id, reason ?? 'disabled');
  }

  return {
    /** Creates or updates an endpoint; omitted fields keep their value on update (create: all events, enabled, unordered). */
    async put(
      appId: string,
      id: string,
      input: EndpointInput,
    ): Promise<{ endpoint: EndpointView; created: boolean }> {
      await checkUrlAtRegistration(input.url, options.allowPrivate, options.resolveAll);
      if (input.secret !== undefined) checkSecret(input.secret);
      if (input.events) input.events = [...new Set(input.events)];
      const now = clock.now();
      const answer = await store.transaction(async (tx) => {
        const before = await find(tx, appId, id);
        if (!before) {
          const secret = input.secret ?? generateSecret();
          const row: WebhookEndpointsTable = {
            app_id: appId,
            id,
            url: input.url,
            events: input.events ? JSON.stringify(input.events) : null,
            enabled: input.enabled === false ? 0 : 1,
            ordered: input.ordered ? 1 : 0,
            secrets: sealed(appId, id, [{ secret, expiresAt: null }]),
            disabled_reason: null,
            created_at: now,
            updated_at: now,
          };
          await tx.insertInto('webhook_endpoints').values(row).execute();
          forget(appId);
          return { endpoint: { ...view(row), secret }, created: true };
        }
        const enabled = input.enabled ?? Number(before.enabled) === 1;
        const row: WebhookEndpointsTable = {
          ...before,
          url: input.url,
          events:
            input.events === undefined ? before.events : input.events ? JSON.stringify(input.events) : null,
          enabled: enabled ? 1 : 0,
          ordered: input.ordered === undefined ? before.ordered : input.ordered ? 1 : 0,
          // A secret given on update replaces every secret at once (use rotate-secret for an overlap).
          secrets:
            input.secret === undefined
              ? before.secrets
              : sealed(appId, id, [{ secret: input.secret, expiresAt: null }]),
          disabled_reason: enabled ? null : before.disabled_reason,
          updated_at: now,
        };
        const { app_id: _a, id: _i, created_at: _c, ...changes } = row;
        await tx
          .updateTable('webhook_endpoints')
          .set(changes)
          .where('app_id', '=', appId)
          .where('id', '=', id)
          .execute();
        if (!enabled && Number(before.enabled) === 1) await disableIn(tx, appId, id, null, now);
        forget(appId);
        return { endpoint: view(row), created: false };
      });
      // After the commit, so that no writer caches the old endpoints meanwhile.
      cache.delete(appId);
      return answer;
    },

    async get(appId: string, id: string): Promise<EndpointView> {
      const row = await find(store.db, appId, id);
      if (!row) throw OncelyError.of('webhook_endpoint_not_found', `webhook endpoint ${id} does not exist`);
      return view(row);
    },

    async list(appId: string): Promise<EndpointView[]> {
      const rows = await store.db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('app_id', '=', appId)
        .orderBy('id')
        .execute();
      return rows.map(view);
    },

    /** Deletes the endpoint with its deliveries and their attempts. */
    async remove(appId: string, id: string): Promise<void> {
      await store.transaction(async (tx) => {
        await existing(tx, appId, id);
        const ofEndpoint = tx
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('app_id', '=', appId)
          .where('endpoint_id', '=', id);
        await tx.deleteFrom('webhook_attempts').where('delivery_id', 'in', ofEndpoint).execute();
        await tx
          .deleteFrom('webhook_deliveries')
          .where('app_id', '=', appId)
          .where('endpoint_id', '=', id)
          .execute();
        await tx.deleteFrom('webhook_endpoints').where('app_id', '=', appId).where('id', '=', id).execute();
        forget(appId);
      });
      cache.delete(appId);
    },

    /** A new current secret (given or generated); the previous one keeps signing for `secretOverlapMs`. */
    async rotateSecret(
      appId: string,
      id: string,
      given?: string,
    ): Promise<{ secret: string; endpoint: EndpointView }> {
      if (given !== undefined) checkSecret(given);
      const secret = given ?? generateSecret();
      const now = clock.now();
      const endpoint = await store.transaction(async (tx) => {
        const row = await existing(tx, appId, id);
        const kept = parseSecrets(row, secretBox)
          .filter((s) => s.expiresAt === null || s.expiresAt > now)
          .map((s) => ({ secret: s.secret, expiresAt: s.expiresAt ?? now + secretOverlapMs }));
        if (kept.some((s) => s.secret === secret)) {
          throw OncelyError.of('secret_in_use', 'the new secret must differ from the ones in use');
        }
        const secrets = sealed(appId, id, [{ secret, expiresAt: null }, ...kept.slice(0, 4)]);
        await tx
          .updateTable('webhook_endpoints')
          .set({ secrets, updated_at: now })
          .where('app_id', '=', appId)
          .where('id', '=', id)
          .execute();
        forget(appId);
        return view({ ...row, secrets, updated_at: now });
      });
      cache.delete(appId);
      return { secret, endpoint };
    },

    /** The server's own disabling (a 410 answer): the app sees `reason` and re-enables with a PUT. */
    async disable(appId: string, id: string, reason: string): Promise<void> {
      await store.transaction(async (tx) => {
        if (await find(tx, appId, id)) await disableIn(tx, appId, id, reason, clock.now());
        forget(appId);
      });
      cache.delete(appId);
    },

    /**
     * An app's endpoints, read through `db` (the caller's transaction) at most every `cacheMs`. An endpoint
     * changed on this instance applies at once, on another within `cacheMs`.
     */
    async ofApp(db: Kysely<Database>, appId: string): Promise<ActiveEndpoint[]> {
      const now = clock.now();
      const hit = cache.get(appId);
      if (hit && hit.until > now) return hit.endpoints;
      const rows = await db.selectFrom('webhook_endpoints').selectAll().where('app_id', '=', appId).execute();
      const endpoints = rows.map((row) => toActive(row, secretBox));
      if (cache.size > 10_000) cache.clear();
      cache.set(appId, { endpoints, until: now + cacheMs });
      return endpoints;
    },
  };
}

/** The secrets that sign at `now`: the current one and rotated ones still in their overlap. */
export function signingSecrets(endpoint: ActiveEndpoint, now: number): string[] {
  return endpoint.secrets.filter((s) => s.expiresAt === null || s.expiresAt > now).map((s) => s.secret);
}

export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>;
