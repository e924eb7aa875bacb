// ONCELY_CONSUMERS_FILE: the documented defaults, and a clear refusal naming the consumer and the field.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function withConsumers(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'oncely-consumers-')), 'consumers.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const valid = {
  name: 'orders',
  kind: 'redis-stream',
  url: 'redis://127.0.0.1:6379',
  appId: 'a1',
  source: 'orders',
};

describe('ONCELY_CONSUMERS_FILE', () => {
  it('is empty when unset, and fills group and maxDeliveries with their defaults', () => {
    expect(loadConfig({}).consumers).toEqual([]);
    const c = loadConfig({ ONCELY_CONSUMERS_FILE: withConsumers([valid]) });
    expect(c.consumers).toEqual([{ ...valid, group: 'oncely', maxDeliveries: 5 }]);
  });

  it('keeps a given group and maxDeliveries', () => {
    const file = withConsumers([
      { ...valid, kind: 'jetstream', url: 'nats://h:4222', group: 'g1', maxDeliveries: 9 },
    ]);
    expect(loadConfig({ ONCELY_CONSUMERS_FILE: file }).consumers[0]).toMatchObject({
      group: 'g1',
      maxDeliveries: 9,
    });
  });

  it.each([
    ['not JSON', '[{', /not valid JSON/],
    ['not an array', { consumers: [] }, /JSON array/],
    ['an unknown field', [{ ...valid, maxDelivery: 3 }], /consumer 0: unknown field "maxDelivery"/],
    ['a missing field', [{ ...valid, appId: undefined }], /consumer 0: "appId" must be a non-empty string/],
    [
      'an unknown kind',
      [{ ...valid, kind: 'kafka' }],
      /"kind" must be one of rabbitmq, redis-stream, jetstream/,
    ],
    ['a url of another broker', [{ ...valid, url: 'amqp://h' }], /"url" of a redis-stream consumer/],
    ['a bad name', [{ ...valid, name: 'has space' }], /"name" must be/],
    [
      'a JetStream stream name with a dot',
      [{ ...valid, kind: 'jetstream', url: 'nats://h:4222', source: 'a.b' }],
      /JetStream stream name/,
    ],
    [
      'maxDeliveries of 0',
      [{ ...valid, maxDeliveries: 0 }],
      /"maxDeliveries" must be an integer between 1 and 100/,
    ],
    ['two consumers of one name', [valid, valid], /two consumers are named "orders"/],
  ])('refuses %s', (_what, content, message) => {
    const file = withConsumers(content);
    expect(() => loadConfig({ ONCELY_CONSUMERS_FILE: file })).toThrow(ConfigError);
    expect(() => loadConfig({ ONCELY_CONSUMERS_FILE: file })).toThrow(message);
  });

  it('refuses a missing file', () => {
    expect(() => loadConfig({ ONCELY_CONSUMERS_FILE: '/nonexistent/consumers.json' })).toThrow(
      /missing file/,
    );
  });
});
