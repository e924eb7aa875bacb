// Pure parts of outbound webhooks: the retry schedule with jitter, the SSRF address rules, signing.
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { addressRefusal, checkUrlForm } from '../../src/webhooks/address-guard.js';
import { retryDelayMs, triesFor } from '../../src/webhooks/retry-schedule.js';
import { createSigner, generateSecret } from '../../src/webhooks/signatures.js';

describe('retry schedule', () => {
  const schedule = [5, 300, 1800];

  it('waits each delay of the schedule in turn, then gives up', () => {
    const mid = () => 0.5;
    let tries = triesFor(schedule);
    expect(tries).toBe(4);
    const waits: Array<number | undefined> = [];
    for (; tries > 0; tries--) waits.push(retryDelayMs(schedule, tries, mid));
    expect(waits).toEqual([5000, 300_000, 1_800_000, undefined]);
  });

  it('moves a delay by at most 20 % either way', () => {
    expect(retryDelayMs(schedule, 4, () => 0)).toBe(4000);
    expect(retryDelayMs(schedule, 4, () => 0.999999)).toBeCloseTo(6000, -1);
  });

  it('a manual retry (one try) fails straight away', () => {
    expect(retryDelayMs(schedule, 1)).toBeUndefined();
  });

  it('is read from ONCELY_WEBHOOK_RETRY_SCHEDULE, defaulting to the published one', () => {
    expect(loadConfig({}).webhooks.retrySchedule).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);
    expect(loadConfig({ ONCELY_WEBHOOK_RETRY_SCHEDULE: '1, 2.5' }).webhooks.retrySchedule).toEqual([1, 2.5]);
    expect(() => loadConfig({ ONCELY_WEBHOOK_RETRY_SCHEDULE: '1,x' })).toThrow(ConfigError);
    expect(() => loadConfig({ ONCELY_WEBHOOK_RETRY_SCHEDULE: '-1' })).toThrow(
      /ONCELY_WEBHOOK_RETRY_SCHEDULE/,
    );
    expect(() => loadConfig({ ONCELY_WEBHOOK_LEASE_MS: '5000' })).toThrow(/must be longer/);
  });
});

describe('SSRF address rules', () => {
  it('allows public unicast only', () => {
    for (const ok of ['8.8.8.8', '93.184.216.34', '2606:4700::1111'])
      expect(addressRefusal(ok, false)).toBeUndefined();
    for (const bad of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fe80::1',
      'fd12::1',
      '::ffff:10.0.0.1',
      '64:ff9b::a00:1',
      '2002:7f00:1::',
    ]) {
      expect(addressRefusal(bad, false)).toBeDefined();
      expect(addressRefusal(bad, true)).toBeUndefined();
    }
  });

  it('checks the form: http(s), no credentials, no private literal or loopback name', () => {
    expect(checkUrlForm('https://example.com/a?b=1', false).hostname).toBe('example.com');
    for (const bad of [
      'ftp://example.com',
      'file:///etc/passwd',
      'https://u:p@example.com',
      'http://[::1]/',
      'http://LOCALHOST/',
      'nope',
    ]) {
      expect(() => checkUrlForm(bad, false)).toThrow(
        expect.objectContaining({ code: 'webhook_url_not_allowed', status: 400 }),
      );
    }
    expect(checkUrlForm('http://127.0.0.1:8080/x', true).port).toBe('8080');
  });
});

describe('signing', () => {
  it('signs with every secret; each verifies alone with the standardwebhooks package', () => {
    const secrets = [generateSecret(), generateSecret()];
    const body = JSON.stringify({ type: 'message.created', timestamp: 'now', data: {} });
    const headers = createSigner().sign('evt_1', Date.now(), body, secrets);
    expect(headers['webhook-id']).toBe('evt_1');
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of secrets)
      expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateSecret()).verify(body, { ...headers })).toThrow();
    expect(() => new Webhook(secrets[0]!).verify(`${body} `, { ...headers })).toThrow();
  });
});
