// A queue message is one JSON batch item (docs/design.md, "Inbound adapters"). Decoding it either yields
// the item or says why it can never be processed, which sends it to the dead letters.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { BatchItem as BatchItemSchema } from '../batch/batch-item.js';
import type { Item } from '../ingest/ingest.js';

const checker = TypeCompiler.Compile(BatchItemSchema);

export type Decoded = { item: Item } | { reason: 'invalid_json' | 'invalid_item'; message: string };

export function decodeQueueMessage(payload: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch (err) {
    return { reason: 'invalid_json', message: `the message is not JSON: ${(err as Error).message}` };
  }
  if (!checker.Check(value)) {
    const first = checker.Errors(value).First();
    return {
      reason: 'invalid_item',
      message: `the message is not a batch item {idempotencyKey, from, conversationId | to, body}${
        first ? `: ${first.path || '/'} ${first.message}` : ''
      }`,
    };
  }
  if ((value.conversationId === undefined) === (value.to === undefined)) {
    return { reason: 'invalid_item', message: 'an item names exactly one of "conversationId" and "to"' };
  }
  return { item: value };
}
