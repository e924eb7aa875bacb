// Secrets at rest: the values that let someone act as oncely (each app's token signing secret, webhook and
// callback secrets) are sealed with AES-256-GCM under ONCELY_SECRETS_KEY when it is set, so a copy of the
// database (a backup, a stolen disk) holds no usable secret without the key. Values stored before a key was
// set stay readable, and are sealed at the next start with the key (`sealStoredSecrets`).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

const prefix = 'sealed:v1:';

export interface SecretBox {
  /** Whether values are sealed when stored (a key is configured). */
  readonly sealing: boolean;
  /**
   * The text to store for `plain`: sealed when a key is configured, else `plain` itself. `context` names the
   * value's place (table, column, row), bound into the seal, so a sealed value copied to another row fails
   * to open.
   */
  seal(plain: string, context: string): string;
  /** The secret behind a stored value: opened when sealed, as it is when it was stored before a key was set. */
  open(stored: string, context: string): string;
}

/** Whether a stored value is sealed (else it was stored in clear, before a key was set). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(prefix);
}

/** A box with this 32-byte key, or one that stores in clear (and refuses to open sealed values) without. */
export function createSecretBox(key: Buffer | undefined): SecretBox {
  if (key !== undefined && key.length !== 32) throw new Error('the secrets key must be 32 bytes');
  return {
    sealing: key !== undefined,
    seal(plain, context) {
      if (!key) return plain;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context));
      const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const parts = [iv, sealed, cipher.getAuthTag()].map((b) => b.toString('base64url'));
      return `${prefix}${parts.join('.')}`;
    },
    open(stored, context) {
      if (!isSealed(stored)) return stored;
      if (!key) {
        throw new Error(
          `a secret in the database (${context}) is sealed, and ONCELY_SECRETS_KEY is not set: set the key it was sealed with`,
        );
      }
      const [iv, sealed, tag] = stored
        .slice(prefix.length)
        .split('.')
        .map((p) => Buffer.from(p, 'base64url'));
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv!);
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(tag!);
        return Buffer.concat([decipher.update(sealed!), decipher.final()]).toString('utf8');
      } catch {
        throw new Error(
          `a secret in the database (${context}) does not open with ONCELY_SECRETS_KEY: it was sealed with another key`,
        );
      }
    },
  };
}

/** The box of a server without ONCELY_SECRETS_KEY: secrets stored in clear. */
export const clearSecrets: SecretBox = createSecretBox(undefined);

/** Where a secret is stored, bound into its seal: `table.column:key/…`. */
export function secretContext(table: string, column: string, ...key: string[]): string {
  return `${table}.${column}:${key.join('/')}`;
}

/** The columns that hold secrets, with the key columns that name their rows. */
const secretColumns = [
  { table: 'apps', column: 'token_secret', key: ['id'] },
  { table: 'callback_sources', column: 'secrets', key: ['app_id', 'id'] },
  { table: 'webhook_endpoints', column: 'secrets', key: ['app_id', 'id'] },
] as const;

/**
 * At start: with a key, seals every secret still stored in clear (each row only if it is unchanged, so
 * instances starting together do not fight) and checks that the sealed ones open with it; without one,
 * refuses to start over sealed secrets, which nothing could open. Returns how many were sealed.
 */
export async function sealStoredSecrets(db: Kysely<Database>, box: SecretBox): Promise<number> {
  const untyped = db as unknown as Kysely<Record<string, Record<string, string>>>;
  let sealed = 0;
  for (const { table, column, key } of secretColumns) {
    const rows = await untyped
      .selectFrom(table)
      .select([column, ...key])
      .execute();
    for (const row of rows) {
      const stored = row[column]!;
      const context = secretContext(table, column, ...key.map((k) => row[k]!));
      if (isSealed(stored) || !box.sealing) {
        box.open(stored, context); // throws, naming the key, when it cannot
        continue;
      }
      let update = untyped
        .updateTable(table)
        .set({ [column]: box.seal(stored, context) })
        .where(column, '=', stored);
      for (const k of key) update = update.where(k, '=', row[k]!);
      sealed += Number((await update.executeTakeFirst()).numUpdatedRows);
    }
  }
  return sealed;
}
