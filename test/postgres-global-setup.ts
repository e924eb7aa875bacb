// Global setup of the `postgres` test project: one real PostgreSQL server per test worker, started before
// the first test file and stopped after the last. Each test server then gets its own database on its
// worker's PostgreSQL (test/test-store.ts).
import type { TestProject } from 'vitest/node';
import { freePort } from './free-port.js';
import { startPostgres, type PostgresServer } from './postgres-server.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workers = Math.max(1, project.globalConfig.maxWorkers);
  const servers: PostgresServer[] = [];
  try {
    for (let i = 0; i < workers; i++) servers.push(await startPostgres({ port: await freePort() }));
  } catch (err) {
    await Promise.all(servers.map((s) => s.destroy()));
    throw err;
  }
  project.provide(
    'postgresServers',
    servers.map((s) => s.baseUrl),
  );
  return async () => {
    await Promise.all(servers.map((s) => s.destroy()));
  };
}
