// The WebSocket protocol's client frames, checked on arrival: one compiled validator for the schemas of the
// protocol module (client/protocol.ts), which the client library's types come from too.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ClientFrame } from '../../client/protocol.js';
import { prototypeKeyMessage, textHoldsPrototypeKey } from '../ingest/prototype-keys.js';

export type { ClientFrame, ServerFrame } from '../../client/protocol.js';

const checker = TypeCompiler.Compile(ClientFrame);
const frameTypes: string[] = ClientFrame.anyOf.map((frame) => frame.properties.type.const);

/** A frame that is refused: what is wrong, and the frame's `clientMsgId` when it has a usable one. */
export interface FrameProblem {
  problem: string;
  clientMsgId?: string;
}

/** The `clientMsgId` of a refused frame, echoed in the error so the client knows which send failed. */
function clientMsgIdOf(value: unknown): string | undefined {
  const id = (value as { clientMsgId?: unknown } | null)?.clientMsgId;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
}

const refused = (problem: string, value?: unknown): FrameProblem => {
  const clientMsgId = clientMsgIdOf(value);
  return clientMsgId === undefined ? { problem } : { problem, clientMsgId };
};

/** Parses one text frame; returns the frame or a message saying what is wrong with it. */
export function parseClientFrame(data: string): { frame: ClientFrame } | FrameProblem {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { problem: 'the frame is not JSON' };
  }
  // The same rule as a REST body's (Fastify's parser): JSON.parse would keep such a key as an own property.
  if (textHoldsPrototypeKey(data, value)) return refused(prototypeKeyMessage, value);
  if (checker.Check(value)) return { frame: value };
  const type = (value as { type?: unknown } | null)?.type;
  const first = checker.Errors(value).First();
  return refused(
    typeof type === 'string' && frameTypes.includes(type)
      ? `invalid ${type} frame${first ? `: ${first.path || '/'} ${first.message}` : ''}`
      : `unknown frame type: expected ${frameTypes.slice(0, -1).join(', ')} or ${frameTypes.at(-1)}`,
    value,
  );
}
