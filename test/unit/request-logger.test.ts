import { PassThrough } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { requestLoggerFactory } from '../../src/http/request-logger.js';
import { createLogger } from '../../src/observability/logger.js';

function logged(level: string) {
  const out = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  const parent = createLogger(level, out);
  let children = 0;
  // Counts the children made of the server logger itself (its children inherit this method).
  const child = parent.child;
  parent.child = function (this: typeof parent, ...args: Parameters<typeof child>) {
    if (this === parent) children++;
    return child.apply(this, args);
  } as typeof child;
  const flushed = () => new Promise((resolve) => setImmediate(resolve));
  return { parent, lines, children: () => children, flushed };
}

const requestLogger = (parent: unknown) =>
  requestLoggerFactory(parent as FastifyBaseLogger, { reqId: 'r-1' }, {});

describe('request logger', () => {
  it('makes no child for a request that logs nothing its level lets through', async () => {
    const { parent, lines, children, flushed } = logged('warn');
    const log = requestLogger(parent);
    log.info({ a: 1 }, 'not at warn');
    log.debug('nor this');
    await flushed();
    expect(children()).toBe(0);
    expect(lines).toEqual([]);
    expect(log.level).toBe('warn');
  });

  it('logs through a child bound to the request id, made once', async () => {
    const { parent, lines, children, flushed } = logged('info');
    const log = requestLogger(parent);
    log.info({ statusCode: 200 }, 'request');
    log.warn('second');
    await flushed();
    expect(children()).toBe(1);
    expect(lines.map((l) => [l.reqId, l.msg, l.level])).toEqual([
      ['r-1', 'request', 30],
      ['r-1', 'second', 40],
    ]);
    expect(lines[0]!.statusCode).toBe(200);
  });

  it('a level set on the request applies to it alone', async () => {
    const { parent, lines, flushed } = logged('warn');
    const log = requestLogger(parent);
    log.level = 'debug';
    log.debug('now shown');
    parent.debug('not the parent');
    await flushed();
    expect(lines.map((l) => l.msg)).toEqual(['now shown']);
    expect(parent.level).toBe('warn');
  });

  it('redacts like the server logger, and its own children keep the request id', async () => {
    const { parent, lines, flushed } = logged('info');
    requestLogger(parent).child({ part: 'x' }).info({ token: 'secret-token' }, 'nested');
    await flushed();
    expect(lines[0]).toMatchObject({ reqId: 'r-1', part: 'x', token: '[REDACTED]', msg: 'nested' });
  });
});
