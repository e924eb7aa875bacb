// The WebSocket protocol's client frames, checked on arrival: one compiled validator for the schemas of the
// protocol module (client/protocol.ts), which the client library's types come from too.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ClientFrame } from '../../client/protocol.js';

export type { ClientFrame, ServerFrame } from '../../client/protocol.js';

const checker = TypeCompiler.Compile(ClientFrame);
const frameTypes: string[] = ClientFrame.anyOf.map((frame) => frame.properties.type.const);

/** Parses one text frame; returns the frame or a message saying what is wrong with it. */
export function parseClientFrame(data: string): { frame: ClientFrame } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { problem: 'the frame is not JSON' };
  }
  if (checker.Check(value)) return { frame: value };
  const type = (value as { type?: unknown } | null)?.type;
  const first = checker.Errors(value).First();
  return {
    problem:
      typeof type === 'string' && frameTypes.includes(type)
        ? `invalid ${type} frame${first ? `: ${first.path || '/'} ${first.message}` : ''}`
        : `unknown frame type: expected ${frameTypes.slice(0, -1).join(', ')} or ${frameTypes.at(-1)}`,
  };
}
