import { describe, expect, it } from 'vitest';
import { GroupCommit, type Outcome } from '../../src/ingest/group-commit.js';

/** A runGroup that records each group and answers each command with its double (odd numbers fail). */
function recorder(opts: { failWholeGroupContaining?: number } = {}) {
  const groups: number[][] = [];
  const runGroup = async (commands: number[]): Promise<Outcome<number>[]> => {
    groups.push([...commands]);
    await new Promise((r) => setImmediate(r));
    if (opts.failWholeGroupContaining !== undefined && commands.includes(opts.failWholeGroupContaining)) {
      throw new Error('transaction failed');
    }
    return commands.map((c) =>
      c % 2 === 0 ? { ok: true, value: c * 2 } : { ok: false, error: new Error(`odd ${c}`) },
    );
  };
  return { groups, runGroup };
}

// A lost wakeup shows as a hang: fail fast instead of at the suite's 60 s.
describe('GroupCommit', { timeout: 5000 }, () => {
  it('writes commands submitted together as one group, in submission order', async () => {
    const r = recorder();
    const gc = new GroupCommit({ maxSize: 100, runGroup: r.runGroup });
    const answers = await Promise.all([0, 2, 4, 6].map((c) => gc.submit(c)));
    expect(answers).toEqual([0, 4, 8, 12]);
    expect(r.groups).toEqual([[0, 2, 4, 6]]);
  });

  it('gives each caller its own outcome', async () => {
    const r = recorder();
    const gc = new GroupCommit({ maxSize: 100, runGroup: r.runGroup });
    const settled = await Promise.allSettled([2, 3, 4].map((c) => gc.submit(c)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason.message).toBe('odd 3');
    expect(r.groups).toHaveLength(1);
  });

  it('splits a queue longer than maxSize into groups of at most maxSize, keeping order', async () => {
    const r = recorder();
    const gc = new GroupCommit({ maxSize: 3, runGroup: r.runGroup });
    const commands = Array.from({ length: 8 }, (_, i) => i * 2);
    expect(await Promise.all(commands.map((c) => gc.submit(c)))).toEqual(commands.map((c) => c * 2));
    expect(r.groups).toEqual([
      [0, 2, 4],
      [6, 8, 10],
      [12, 14],
    ]);
  });

  it('queues commands that arrive while a group is being written into the next group', async () => {
    const r = recorder();
    const gc = new GroupCommit({ maxSize: 100, runGroup: r.runGroup });
    const first = gc.submit(0);
    await new Promise((r) => setImmediate(r)); // the first group is now being written
    const later = [gc.submit(2), gc.submit(4)];
    expect(await Promise.all([first, ...later])).toEqual([0, 4, 8]);
    expect(r.groups).toEqual([[0], [2, 4]]);
  });

  it('a failing group rejects every caller in it, and the next group still runs', async () => {
    const r = recorder({ failWholeGroupContaining: 4 });
    const gc = new GroupCommit({ maxSize: 2, runGroup: r.runGroup });
    const settled = await Promise.allSettled([2, 4, 6, 8].map((c) => gc.submit(c)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    expect((settled[0] as PromiseRejectedResult).reason.message).toBe('transaction failed');
    expect(await gc.submit(10)).toBe(20);
  });

  it('rejects callers left without an outcome', async () => {
    const gc = new GroupCommit<number, number>({
      maxSize: 10,
      runGroup: async () => [{ ok: true, value: 1 }],
    });
    const settled = await Promise.allSettled([gc.submit(1), gc.submit(2)]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected']);
  });

  it('with maxInFlight 2 the next group is written while the previous one is still under way', async () => {
    const releases: Array<() => void> = [];
    const groups: number[][] = [];
    const gc = new GroupCommit<number, number>({
      maxSize: 2,
      maxInFlight: 2,
      runGroup: async (commands) => {
        groups.push(commands);
        await new Promise<void>((r) => releases.push(r));
        return commands.map((c) => ({ ok: true, value: c + 1 }));
      },
    });
    const answers = Promise.all([1, 2, 3, 4, 5].map((c) => gc.submit(c)));
    await waitUntil(() => releases.length === 2);
    // Two groups under way, the fifth command waits for a free slot.
    expect(groups).toEqual([
      [1, 2],
      [3, 4],
    ]);
    releases[1]!();
    await waitUntil(() => releases.length === 3);
    expect(groups).toEqual([[1, 2], [3, 4], [5]]);
    releases[0]!();
    releases[2]!();
    expect(await answers).toEqual([2, 3, 4, 5, 6]);
  });

  it('flushed() resolves once everything submitted is written', async () => {
    const r = recorder();
    const gc = new GroupCommit({ maxSize: 1, runGroup: r.runGroup });
    const all = [0, 2, 4].map((c) => gc.submit(c));
    await gc.flushed();
    expect(r.groups).toEqual([[0], [2], [4]]);
    await Promise.all(all);
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}
