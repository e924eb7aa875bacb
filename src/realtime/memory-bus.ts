// The in-process Bus: one instance, listeners called synchronously in publish order. Nothing is ever lost,
// so `lost()` is never called.
import type { Bus, BusListener } from './bus.js';

export function createMemoryBus(): Bus {
  const listeners = new Set<BusListener>();
  return {
    async publish(message) {
      for (const listener of listeners) listener.message(message);
    },
    // Each message reaches every listener before the next one is published: the order a publisher used.
    async publishMany(messages) {
      for (const message of messages) for (const listener of listeners) listener.message(message);
    },
    async subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async ping() {
      // In-process: there is nothing that could be unreachable.
    },
    async close() {
      listeners.clear();
    },
  };
}
