import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Tally } from '../../src/observability/tally.js';

describe('Tally', () => {
  it('counts per label set, as the counter it feeds reads at every scrape', async () => {
    const registry = new Registry();
    const tally = new Tally({
      name: 't_total',
      help: 't',
      labelNames: ['app', 'source'] as const,
      registers: [registry],
    });
    const a = tally.of('a\ns', { app: 'a', source: 's' });
    a.inc();
    a.inc(2);
    tally.of('b\ns', { app: 'b', source: 's' }).inc();
    expect(tally.of('a\ns', { app: 'a', source: 's' })).toBe(a);
    const text = await registry.metrics();
    expect(text).toContain('t_total{app="a",source="s"} 3');
    expect(text).toContain('t_total{app="b",source="s"} 1');
    // Read again: nothing counted twice; later counts add up.
    a.inc();
    const values = (await tally.counter.get()).values.map((v) => [v.labels.app, v.value]);
    expect(values).toEqual([
      ['a', 4],
      ['b', 1],
    ]);
    expect(await registry.metrics()).toContain('t_total{app="a",source="s"} 4');
  });
});
