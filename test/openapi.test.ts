// The OpenAPI document as an integrator uses it: the served /openapi.json passes an outside linter (Redocly,
// recommended rules: redocly.yaml) with no error and no warning, and a TypeScript client generated from it
// (openapi-typescript) compiles and types the API as it is. A route added later that breaks the document
// fails here.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startServer, type TestServer } from './harness.js';

const run = promisify(execFile);
const bin = (pkg: string, file = 'bin/cli.js') => join(repoRoot, 'node_modules', pkg, file);

let server: TestServer;
let dir: string;
let document: any;
beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'oncely-openapi-'));
  document = await (await fetch(`${server.url}/openapi.json`)).json();
  writeFileSync(join(dir, 'openapi.json'), JSON.stringify(document, null, 2));
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the OpenAPI document', () => {
  it('passes redocly lint (recommended rules) with no errors and no warnings', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        bin('@redocly/cli'),
        'lint',
        '--config',
        join(repoRoot, 'redocly.yaml'),
        '--format',
        'json',
        'openapi.json',
      ],
      {
        cwd: dir,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    ).catch((e: { stdout: string }) => e);
    const report = JSON.parse(stdout) as {
      totals: { errors: number; warnings: number };
      problems: Array<{ ruleId: string; message: string; location: Array<{ pointer: string }> }>;
    };
    const problems = report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('shares its schemas, describes every response, and documents the headers and the signed callback', () => {
    const ops = Object.entries(document.paths as Record<string, Record<string, any>>).flatMap(
      ([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })),
    );
    expect(ops.length).toBeGreaterThan(25);
    for (const { op } of ops) {
      expect(op.operationId).toMatch(/^[a-z][A-Za-z0-9]+$/);
      for (const response of Object.values(op.responses) as any[]) {
        if (!response.$ref) expect(response.description).not.toBe('Default Response');
      }
    }
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining(['Error', 'Event', 'MessageBody', 'Conversation', 'SendResult', 'BatchItem']),
    );
    expect(JSON.stringify(document).split('"$ref"').length).toBeGreaterThan(100);
    const send = document.paths['/v1/conversations/{id}/messages'].post;
    expect(send.operationId).toBe('postConversationsMessages');
    expect(send.responses['200'].headers['Idempotent-Replayed']).toBeDefined();
    expect(send.responses['503']).toEqual({ $ref: '#/components/responses/Unavailable' });
    expect(document.components.responses.Unavailable.headers['Retry-After']).toBeDefined();
    const callback = document.paths['/v1/apps/{appId}/callbacks/{sourceId}'].post;
    expect(callback.security).toContainEqual({ standardWebhooks: [] });
    expect(document.paths['/healthz'].get.responses['200']).toBeDefined();
    expect(document.paths['/readyz'].get.responses['200']).toBeDefined();
    expect(document.paths['/metrics'].get.responses['200'].content['text/plain']).toBeDefined();
    expect(document.paths['/v1/events'].get.responses['200'].content['text/event-stream']).toBeDefined();
    expect(document.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it('generates a TypeScript client (openapi-typescript) that compiles and types the API as it is', async () => {
    await run(process.execPath, [bin('openapi-typescript'), 'openapi.json', '-o', 'api.d.ts'], { cwd: dir });
    writeFileSync(
      join(dir, 'use.ts'),
      `import type { components, operations, paths } from './api';
type Send = operations['postConversationsMessages'];
export const request: NonNullable<Send['requestBody']>['content']['application/json'] = {
  from: 'alice',
  body: { type: 'text', text: 'hello' },
};
export const created: Send['responses'][201]['content']['application/json'] = {
  id: 'm1', conversationId: 'c1', seq: 1, createdAt: '2026-01-01T00:00:00.000Z',
};
export const page: paths['/v1/conversations/{id}/messages']['get']['responses'][200]['content']['application/json'] = {
  items: [], hasMore: false,
};
export const error: components['schemas']['Error'] = { error: { code: 'invalid_request', message: 'x' } };
export const kind: components['schemas']['Conversation']['kind'] = 'group';
// @ts-expect-error a message body of a type the API does not take
export const wrongBody: components['schemas']['MessageBody'] = { type: 'image', url: 'x' };
// @ts-expect-error a conversation kind the API does not take
export const wrongKind: components['schemas']['Conversation']['kind'] = 'channel';
`,
    );
    const tsc = await run(
      process.execPath,
      [
        join(repoRoot, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        'false',
        '--module',
        'nodenext',
        '--target',
        'es2022',
        'use.ts',
      ],
      { cwd: dir },
    ).catch((e: { stdout: string }) => e);
    expect(tsc.stdout).toBe('');
  });
});
