import { describe, expect, it } from 'vitest';
import { checkBody, exceedsDepth, textExceedsDepth } from '../../src/ingest/body-limits.js';

const arrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('body limits', () => {
  it('depth counts the containers on the deepest path, the outer one as 1', () => {
    expect(exceedsDepth('text', 0)).toBe(false);
    expect(exceedsDepth({ type: 'text', text: 'x' }, 1)).toBe(false);
    expect(exceedsDepth({ type: 'custom', data: [{ a: [] }] }, 3)).toBe(true);
    expect(exceedsDepth({ type: 'custom', data: [{ a: [] }] }, 4)).toBe(false);
  });

  it('measures a body far deeper than the stack allows, without recursion', () => {
    const deep = JSON.parse(arrays(200_000)) as unknown;
    expect(exceedsDepth(deep, 64)).toBe(true);
    expect(() => checkBody({ type: 'custom', data: deep }, { maxDepth: 64, maxBytes: 1 << 20 })).toThrow(
      expect.objectContaining({ status: 400, code: 'body_too_deep' }),
    );
  });

  it('text depth ignores brackets inside strings, escaped quotes included', () => {
    expect(textExceedsDepth('{"a":"[[[[[[\\"[[[["}', 1)).toBe(false);
    expect(textExceedsDepth('{"a":[{"b":"]]]"}]}', 2)).toBe(true);
    expect(textExceedsDepth(arrays(65), 64)).toBe(true);
    expect(textExceedsDepth(arrays(64), 64)).toBe(false);
  });

  it('size is checked after depth: 413 message_too_large', () => {
    expect(() => checkBody({ type: 'text', text: 'x'.repeat(100) }, { maxDepth: 64, maxBytes: 50 })).toThrow(
      expect.objectContaining({ status: 413, code: 'message_too_large' }),
    );
  });
});
