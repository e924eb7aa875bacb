// The in-process Bus: one instance, listeners called synchronously in publish order.
import type { Bus, BusMessage } from './bus.js';

export function createMemoryBus(): Bus {
  const listeners = new Set<(message: BusMessage) => void>();
  return {
    async publish(message) {
      for (const listener of listeners) listener(message);
    },
    // Each message reaches every listener before the next one is published: the order a publisher used.
    async publishMany(messages) {
      for (const message of messages) for (const listener of listeners) listener(message);
    },
    subscribe(listener) {
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
