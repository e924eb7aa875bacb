// JSON keys that would reach an object's prototype — `__proto__`, and `constructor` holding `prototype` — are
// refused on every entry point with the same message: Fastify's JSON parser refuses them on REST, and the
// WebSocket frames and callback payloads, parsed elsewhere, meet the same rule here.

export const prototypeKeyMessage =
  'a "__proto__" key, or a "constructor" key holding "prototype", is refused anywhere in the JSON';

/** Text that can hold no such key (escapes aside): most frames and payloads skip the walk. */
function mayHoldPrototypeKey(text: string): boolean {
  return text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
}

/** Whether a parsed JSON value holds a prototype key at any depth; iterative, so any depth is safe. */
export function holdsPrototypeKey(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const top = stack.pop();
    if (top === null || typeof top !== 'object') continue;
    if (Object.prototype.hasOwnProperty.call(top, '__proto__')) return true;
    const ctor = Object.prototype.hasOwnProperty.call(top, 'constructor')
      ? (top as { constructor: unknown }).constructor
      : undefined;
    if (ctor !== null && typeof ctor === 'object' && Object.prototype.hasOwnProperty.call(ctor, 'prototype'))
      return true;
    for (const child of Object.values(top)) stack.push(child);
  }
  return false;
}

/**
 * Whether JSON text holds a prototype key. `parsed` is the text already parsed by JSON.parse (which keeps
 * `__proto__` as an own key); without it the text is parsed here, only when it could hold one.
 */
export function textHoldsPrototypeKey(text: string, parsed?: unknown): boolean {
  if (!mayHoldPrototypeKey(text)) return false;
  try {
    return holdsPrototypeKey(parsed === undefined ? JSON.parse(text) : parsed);
  } catch {
    return false; // not JSON: the parser that follows says so
  }
}
