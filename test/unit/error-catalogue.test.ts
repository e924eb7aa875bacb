import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeCodes } from '../../client/close-codes.js';
import { documentedRows, errorRows, readmePath } from '../../scripts/error-table.js';
import { errorCatalogue, OncelyError, rawHttpError, type ErrorCode } from '../../src/errors.js';
import { asApp, errors } from '../../src/http/schemas.js';

const codes = Object.keys(errorCatalogue) as ErrorCode[];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

describe('the error catalogue', () => {
  it('declares each code once, snake_case, with a 4xx/5xx status and a meaning', () => {
    for (const code of codes) {
      const entry = errorCatalogue[code];
      expect(code).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      expect(entry.status >= 400 && entry.status < 600, code).toBe(true);
      expect(entry.meaning.length, code).toBeGreaterThan(10);
    }
  });

  it("is the README's list, row for row (npm run docs:errors writes it)", () => {
    expect(documentedRows(readFileSync(readmePath, 'utf8'))).toEqual(errorRows());
  });

  it('lists only codes the server uses: each appears in the source beside the catalogue', () => {
    const root = new URL('../../', import.meta.url).pathname;
    // The catalogue itself aside: what follows it in errors.ts counts (storeUnavailable).
    const text = sources(join(root, 'src'))
      .map((f) => readFileSync(f, 'utf8'))
      .map((t) => (t.includes('export const errorCatalogue') ? t.split('as const satisfies')[1]! : t))
      .join('\n');
    const unused = codes.filter((c) => !text.includes(`'${c}'`) && !text.includes(`"${c}"`));
    expect(unused).toEqual([]);
  });

  it('gives an error the status of its code, and says whether a retry may succeed', () => {
    const e = OncelyError.of('conversation_not_found', 'conversation x does not exist');
    expect(e).toMatchObject({ status: 404, code: 'conversation_not_found', retryable: true });
    expect(OncelyError.of('not_sender', 'no').retryable).toBe(false);
    // A plugin's own refusal keeps its code and status, outside the catalogue.
    expect(new OncelyError(422, 'message_refused', 'no')).toMatchObject({ status: 422, retryable: false });
    expect(rawHttpError('headers_too_large', 'too large')).toMatch(/^HTTP\/1\.1 431 Request Header Fields/);
  });

  it('knows every error code the server sends before closing a WebSocket', () => {
    const closing = Object.values(closeCodes).flatMap((m) => m.errorCodes);
    expect(closing.filter((c) => !(c in errorCatalogue))).toEqual([]);
  });

  it("documents a route's refusals by status, each status naming its codes and their meaning", () => {
    const responses = errors(asApp, 'conversation_not_found', 'invalid_request') as Record<number, any>;
    expect(Object.keys(responses).sort()).toEqual(['400', '401', '403', '404']);
    expect(responses[404]['x-response-description']).toBe(
      `- \`conversation_not_found\`: ${errorCatalogue.conversation_not_found.meaning}`,
    );
    expect(responses[401]['x-response-description']).toContain('`token_expired`');
    expect(responses[403]['x-response-description']).toContain('`app_key_required`');
  });
});
