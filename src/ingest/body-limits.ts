// The limits every message body meets before anything else reads it: nesting depth, then size. Depth comes
// first and is measured without recursion, because everything after it (the size check's JSON.stringify,
// the fingerprint's canonical JSON, storage) recurses and would overflow the stack on a hostile body.
import { OncelyError } from '../errors.js';

export interface BodyLimits {
  /** Containers (objects, arrays) nested in a body, the body object itself counting 1. @defaultValue 64 */
  maxDepth: number;
  /** The body's size as JSON. @defaultValue 65536 */
  maxBytes: number;
}

export const bodyLimitDefaults: BodyLimits = { maxDepth: 64, maxBytes: 64 * 1024 };

/** The refusal's message, the same for a send (400) and a list item that fails alone. */
export const tooDeepMessage = (max: number) => `the message body is nested more than ${max} levels deep`;

const tooDeep = (max: number) => OncelyError.of('body_too_deep', tooDeepMessage(max));

/** Whether `value` holds containers nested deeper than `max`; iterative, so any depth is safe to measure. */
export function exceedsDepth(value: unknown, max: number): boolean {
  const stack: Array<{ value: object; depth: number }> = [];
  if (value !== null && typeof value === 'object') stack.push({ value, depth: 1 });
  for (let top = stack.pop(); top; top = stack.pop()) {
    if (top.depth > max) return true;
    for (const child of Object.values(top.value)) {
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: top.depth + 1 });
    }
  }
  return false;
}

/**
 * Whether JSON text nests deeper than `max`, read without parsing it: for payloads that must be refused
 * before a recursive parser (lossless-json) sees them. Brackets inside strings do not count.
 */
export function textExceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return false;
}

/** `400 body_too_deep` when the body nests deeper than the limit (before anything recursive reads it). */
export function checkBodyDepth(body: unknown, limits: BodyLimits): void {
  if (exceedsDepth(body, limits.maxDepth)) throw tooDeep(limits.maxDepth);
}

/** `400 body_too_deep` for JSON text deeper than the limit; `what` names it in the message. */
export function checkTextDepth(text: string, limits: BodyLimits, what: string): void {
  if (textExceedsDepth(text, limits.maxDepth)) {
    throw OncelyError.of('body_too_deep', `${what} is nested more than ${limits.maxDepth} levels deep`);
  }
}

/** Depth first, then `413 message_too_large` over the size limit. */
export function checkBody(body: unknown, limits: BodyLimits): void {
  checkBodyDepth(body, limits);
  checkBodySize(body, limits);
}

/** `413 message_too_large` over the size limit, for a body whose depth is known to be within its limit. */
export function checkBodySize(body: unknown, limits: BodyLimits): void {
  const bytes = Buffer.byteLength(JSON.stringify(body));
  if (bytes > limits.maxBytes) {
    throw OncelyError.of(
      'message_too_large',
      `message body is ${bytes} bytes; the limit is ${limits.maxBytes}`,
    );
  }
}
