// One test suite, run once per store: the `sqlite` project and the `postgres` project run the same test
// files, each with ONCELY_TEST_STORE set, and the harness starts every server on that store. A new test
// file runs on both without doing anything; tests of pure logic (no store) run once, in `sqlite`.
import { defineConfig } from 'vitest/config';
import { postgresBinDir } from './test/postgres-server.js';

/** Files that never start a server or open a store: running them twice would prove nothing new. */
const storeIndependent = [
  'test/unit/**',
  'test/client-ordering.test.ts',
  'test/realtime-sequencer.test.ts',
  'test/bus.test.ts',
  'test/connection-registry.test.ts',
  'test/redis-presence.test.ts',
  'test/web-chat-state.test.ts',
  'test/queue-redelivery.test.ts',
];

// Prints the skip message naming the Debian package when PostgreSQL is missing, or throws when
// ONCELY_REQUIRE_SERVICES=1 forbids skipping.
const postgres = postgresBinDir() !== undefined;

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One PostgreSQL server per worker (test/postgres-global-setup.ts).
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['test/**/*.test.ts'],
          exclude: ['test/postgres/**'],
          env: { ONCELY_TEST_STORE: 'sqlite' },
        },
      },
      ...(postgres
        ? [
            {
              extends: true as const,
              test: {
                name: 'postgres',
                include: ['test/**/*.test.ts'],
                exclude: storeIndependent,
                env: { ONCELY_TEST_STORE: 'postgres' },
                globalSetup: ['test/postgres-global-setup.ts'],
              },
            },
          ]
        : []),
    ],
  },
});
