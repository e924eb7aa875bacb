// Redis Streams behind the Broker contract (ioredis): a consumer group read with XREADGROUP, acknowledged
// with XACK; entries a dead consumer left pending are taken over with XAUTOCLAIM; delivery counts come from
// XPENDING. Dead letters are entries of the stream `{source}:dead`, written in one MULTI with the XACK.
import { Redis } from 'ioredis';
import type { Broker, BrokerConnection, Delivery } from './broker.js';

export interface RedisStreamBrokerOptions {
  url: string;
  /** The stream key. */
  stream: string;
  group: string;
  /** This process's name in the group; a restart under the same name resumes its own pending entries. */
  consumer: string;
  /** How long another consumer's entry stays pending before it is taken over. @defaultValue 30 000 */
  claimIdleMs?: number;
  /** Longest wait of one XREADGROUP BLOCK; bounds how late a due retry or a stop is noticed. @defaultValue 500 */
  blockMs?: number;
}

export const redisStreamDefaults = { claimIdleMs: 30_000, blockMs: 500 } as const;

export const deadLetterStream = (stream: string) => `${stream}:dead`;

/** Stream entry ids look like `1700000000000-0`; each entry is a flat list of field, value, … */
type Entry = [id: string, fields: string[] | null];

interface Pending {
  id: string;
  fields: string[];
  deliveryCount: number;
}

export function createRedisStreamBroker(options: RedisStreamBrokerOptions): Broker {
  const { stream, group, consumer } = options;
  const claimIdleMs = options.claimIdleMs ?? redisStreamDefaults.claimIdleMs;
  const blockMs = options.blockMs ?? redisStreamDefaults.blockMs;

  function open(): Redis {
    // The runner owns reconnecting (with backoff and a visible state), so the client neither retries nor
    // queues commands while down.
    return new Redis(options.url, {
      lazyConnect: true,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
  }

  async function connect(): Promise<BrokerConnection> {
    // Two connections: a blocked XREADGROUP must not hold up the XACKs behind it.
    const reader = open();
    const writer = open();
    let lostWith: Error | undefined;
    let onLost!: (err: Error) => void;
    const lost = new Promise<Error>((resolve) => (onLost = resolve));
    const loseWith = (err: Error) => {
      if (lostWith) return;
      lostWith = err;
      onLost(err);
    };
    for (const r of [reader, writer]) {
      r.on('error', (err: Error) => loseWith(err));
      r.on('end', () => loseWith(new Error('connection to Redis closed')));
    }
    try {
      await Promise.all([reader.connect(), writer.connect()]);
      // From the stream's start ("0"), so what was written before oncely first ran is consumed too.
      await writer.xgroup('CREATE', stream, group, '0', 'MKSTREAM').catch((err: Error) => {
        if (!/BUSYGROUP/.test(err.message)) throw err;
      });
    } catch (err) {
      reader.disconnect();
      writer.disconnect();
      throw err;
    }

    // Delivered to this process and not yet settled; never taken over from ourselves by XAUTOCLAIM.
    const inFlight = new Set<string>();
    // Handed back by `retry`: claimed again (delivery count +1) once due.
    const retries = new Map<string, { due: number; deliveryCount: number }>();
    // Our pending entries from before a restart or reconnect are read first, from this id on.
    let history: string | undefined = '0';
    let claimCursor = '0-0';
    let nextClaimAt = 0;

    const toDelivery = (p: Pending): Delivery => {
      inFlight.add(p.id);
      const payload = fieldValue(p.fields, 'payload');
      return {
        id: p.id,
        payload: payload ?? JSON.stringify(fieldObject(p.fields)),
        deliveryCount: p.deliveryCount,
        problem:
          payload === undefined
            ? {
                reason: 'missing_payload',
                message: 'a stream entry carries its message in the field "payload"',
              }
            : undefined,
      };
    };

    /** Delivery counts of entries now pending to us, from XPENDING over their id range. */
    async function withCounts(entries: Entry[]): Promise<Pending[]> {
      const live = entries.filter((e): e is [string, string[]] => e[1] !== null);
      // Entries deleted from the stream while pending have nothing left to process.
      const gone = entries.filter((e) => e[1] === null).map((e) => e[0]);
      if (gone.length > 0) await writer.xack(stream, group, ...gone);
      if (live.length === 0) return [];
      const rows = (await writer.xpending(
        stream,
        group,
        live[0]![0],
        live[live.length - 1]![0],
        live.length,
        consumer,
      )) as Array<[string, string, number, number]>;
      const counts = new Map(rows.map((r) => [r[0], Number(r[3])]));
      return live.map(([id, fields]) => ({ id, fields, deliveryCount: counts.get(id) ?? 1 }));
    }

    async function dueRetries(max: number): Promise<Delivery[]> {
      const now = Date.now();
      const due = [...retries].filter(([, r]) => r.due <= now).slice(0, max);
      if (due.length === 0) return [];
      for (const [id] of due) retries.delete(id);
      const entries = (await writer.xclaim(stream, group, consumer, 0, ...due.map(([id]) => id))) as Entry[];
      const counts = new Map(due.map(([id, r]) => [id, r.deliveryCount + 1]));
      return entries
        .filter((e): e is [string, string[]] => e[1] !== null)
        .map(([id, fields]) => toDelivery({ id, fields, deliveryCount: counts.get(id) ?? 1 }));
    }

    async function takeOver(max: number): Promise<Delivery[]> {
      if (Date.now() < nextClaimAt) return [];
      const [cursor, entries] = (await writer.xautoclaim(
        stream,
        group,
        consumer,
        claimIdleMs,
        claimCursor,
        'COUNT',
        max,
      )) as [string, Entry[]];
      claimCursor = cursor;
      // A full pass over the pending list: look again after a while.
      if (cursor === '0-0') nextClaimAt = Date.now() + Math.max(100, claimIdleMs / 2);
      const mine = entries.filter(([id]) => !inFlight.has(id) && !retries.has(id));
      return (await withCounts(mine)).map(toDelivery);
    }

    async function read(max: number, id: string, block: number | undefined): Promise<Entry[]> {
      const reply =
        block === undefined
          ? await reader.xreadgroup('GROUP', group, consumer, 'COUNT', max, 'STREAMS', stream, id)
          : await reader.xreadgroup(
              'GROUP',
              group,
              consumer,
              'COUNT',
              max,
              'BLOCK',
              block,
              'STREAMS',
              stream,
              id,
            );
      return ((reply as Array<[string, Entry[]]> | null)?.[0]?.[1] ?? []) as Entry[];
    }

    return {
      lost,
      async receive(max, signal) {
        while (!signal.aborted) {
          if (lostWith) throw lostWith;
          if (history !== undefined) {
            const entries = await read(max, history, undefined);
            history = entries.length > 0 ? entries[entries.length - 1]![0] : undefined;
            const own = await withCounts(entries);
            if (own.length > 0) return own.map(toDelivery);
            continue;
          }
          const retried = await dueRetries(max);
          if (retried.length > 0) return retried;
          const claimed = await takeOver(max);
          if (claimed.length > 0) return claimed;
          const nextDue = Math.min(...[...retries.values()].map((r) => r.due));
          const block = Math.max(1, Math.min(blockMs, nextDue - Date.now()));
          const fresh = await read(max, '>', block);
          if (fresh.length > 0) {
            return fresh
              .filter((e): e is [string, string[]] => e[1] !== null)
              .map(([id, fields]) => toDelivery({ id, fields, deliveryCount: 1 }));
          }
        }
        return [];
      },
      async ack(deliveries) {
        if (deliveries.length === 0) return;
        for (const d of deliveries) inFlight.delete(d.id);
        await writer.xack(stream, group, ...deliveries.map((d) => d.id));
      },
      async retry(deliveries, delayMs) {
        // The entries stay pending to us; XCLAIM takes them again (counting a delivery) once due.
        for (const d of deliveries) {
          inFlight.delete(d.id);
          retries.set(d.id, { due: Date.now() + delayMs, deliveryCount: d.deliveryCount });
        }
      },
      async deadLetter(letters) {
        if (letters.length === 0) return;
        // One MULTI: the dead letter and the XACK of its original are applied together.
        const tx = writer.multi();
        for (const { delivery, reason, message } of letters) {
          tx.xadd(
            deadLetterStream(stream),
            '*',
            'payload',
            delivery.payload,
            'reason',
            reason,
            'message',
            message,
            'entryId',
            delivery.id,
            'deliveryCount',
            String(delivery.deliveryCount),
          );
        }
        tx.xack(stream, group, ...letters.map((l) => l.delivery.id));
        const results = await tx.exec();
        const failed = results?.find(([err]) => err);
        if (!results || failed) throw failed?.[0] ?? new Error('dead-letter transaction was discarded');
        for (const l of letters) inFlight.delete(l.delivery.id);
      },
      async lag() {
        if (lostWith) return undefined;
        const groups = (await writer.xinfo('GROUPS', stream)) as unknown[][];
        for (const g of groups) {
          const info = fieldObject(g as string[]);
          if (info.name === group) return info.lag === null ? undefined : Number(info.lag);
        }
        return undefined;
      },
      async close() {
        loseWith(new Error('closed'));
        reader.disconnect();
        writer.disconnect();
      },
    };
  }

  return { kind: 'redis-stream', connect };
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function fieldObject(fields: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[String(fields[i])] = fields[i + 1];
  return out;
}
