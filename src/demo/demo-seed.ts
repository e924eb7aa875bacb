// Demo mode (ONCELY_DEMO=1, what `npm start` sets): a demo app with alice, bob and carol, a group of the
// three and a direct alice–bob conversation, so a person can open the web client and chat at once. Seeding
// is idempotent: a restart finds the same app (its id is kept in the data directory) and creates nothing new.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Apps } from '../apps/apps.js';
import type { UserTokens } from '../apps/user-tokens.js';
import type { Conversations } from '../conversations/conversations.js';
import { OncelyError } from '../errors.js';

export const demoUsers = [
  { id: 'alice', displayName: 'Alice' },
  { id: 'bob', displayName: 'Bob' },
  { id: 'carol', displayName: 'Carol' },
] as const;

export const demoGroupId = 'demo-group';

export interface DemoSignIn {
  userId: string;
  /** `<baseUrl>/#token=…`: opens the web client signed in as this user. */
  link: string;
  expiresAt: string;
}

export interface DemoSeedDeps {
  apps: Apps;
  conversations: Conversations;
  userTokens: UserTokens;
  dataDir: string;
}

export interface DemoSeed {
  appId: string;
  /** The demo app's API key, only on the start that created the app (it is stored hashed, like every key). */
  apiKey: string | undefined;
  signIns: DemoSignIn[];
}

/**
 * The demo app: the one recorded in the data directory if that app still exists, else a new app whose API
 * key is returned once (and kept, 0600, in `demo-api-key` beside the admin token) so a newcomer can call the
 * app API for the demo users.
 */
async function demoApp({ apps, dataDir }: DemoSeedDeps): Promise<{ appId: string; apiKey?: string }> {
  const file = join(dataDir, 'demo-app-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (await apps.tokenSecret(id)) return { appId: id };
  }
  const app = await apps.createApp('oncely demo');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'demo-api-key'), `${app.apiKey}\n`, { mode: 0o600 });
  chmodSync(join(dataDir, 'demo-api-key'), 0o600);
  writeFileSync(file, `${app.id}\n`);
  return { appId: app.id, apiKey: app.apiKey };
}

async function conversationExists(conversations: Conversations, appId: string, id: string): Promise<boolean> {
  try {
    await conversations.get({ kind: 'app', appId }, id);
    return true;
  } catch (err) {
    if (err instanceof OncelyError && err.code === 'conversation_not_found') return false;
    throw err;
  }
}

/** Creates what is missing of the demo and returns one sign-in link per demo user. */
export async function seedDemo(
  deps: DemoSeedDeps,
  { baseUrl, tokenTtlSeconds }: { baseUrl: string; tokenTtlSeconds: number },
): Promise<DemoSeed> {
  const { apps, conversations, userTokens } = deps;
  const { appId, apiKey } = await demoApp(deps);
  for (const user of demoUsers) await apps.upsertUser(appId, user.id, user.displayName);
  const members = demoUsers.map((u) => u.id);
  if (!(await conversationExists(conversations, appId, demoGroupId))) {
    await conversations.create(appId, { id: demoGroupId, kind: 'group', title: 'Demo group', members });
  }
  // A direct pair is found again, never duplicated.
  await conversations.create(appId, { kind: 'direct', members: ['alice', 'bob'] });

  const signIns: DemoSignIn[] = [];
  for (const user of demoUsers) {
    const { token, expiresAt } = await userTokens.issue(appId, user.id, tokenTtlSeconds);
    signIns.push({ userId: user.id, link: `${baseUrl}/#token=${token}`, expiresAt });
  }
  return { appId, apiKey, signIns };
}
