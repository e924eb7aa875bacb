import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/observability/logger.js';

describe('redactUrl', () => {
  it('replaces a token in the query string', () => {
    expect(redactUrl('/v1/ws?token=abc.def.ghi')).toBe('/v1/ws?token=[REDACTED]');
  });

  it('keeps the other parameters and the fragment', () => {
    expect(redactUrl('/v1/sync?cursor=5&token=secret&timeoutMs=10#x')).toBe(
      '/v1/sync?cursor=5&token=[REDACTED]&timeoutMs=10#x',
    );
  });

  it('covers access_token and api_key in any case', () => {
    expect(redactUrl('/a?ACCESS_TOKEN=s1&Api_Key=s2')).toBe('/a?ACCESS_TOKEN=[REDACTED]&Api_Key=[REDACTED]');
  });

  it('leaves names that merely contain "token" alone', () => {
    expect(redactUrl('/a?mytoken=visible&tokens=2')).toBe('/a?mytoken=visible&tokens=2');
  });

  it('leaves a URL without credentials unchanged', () => {
    expect(redactUrl('/v1/conversations/c1/messages?after=3')).toBe('/v1/conversations/c1/messages?after=3');
  });

  it('compares names after decoding them, as the server reads them', () => {
    expect(redactUrl('/v1/ws?%74oken=s1&t%6F%6Ben=s2&%54OKEN=s3&access%5Ftoken=s4')).toBe(
      '/v1/ws?%74oken=[REDACTED]&t%6F%6Ben=[REDACTED]&%54OKEN=[REDACTED]&access%5Ftoken=[REDACTED]',
    );
  });

  it('redacts every copy of a repeated credential and keeps a name that does not decode', () => {
    expect(redactUrl('/a?token=s1&token=s2&%E0%A4%A=v')).toBe(
      '/a?token=[REDACTED]&token=[REDACTED]&%E0%A4%A=v',
    );
  });
});
