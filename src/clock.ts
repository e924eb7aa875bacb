// Time and server ids come through here, so expiry and recall windows are testable without sleeping.
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock the tests move by hand. */
export class ManualClock implements Clock {
  constructor(private ms = Date.now()) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Time-ordered server id (UUIDv7): index inserts stay append-only. */
export function newId(): string {
  return uuidv7();
}

/** A random secret, base64url, for API keys and signing keys. */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
