// Who holds realtime connections, for ONCELY_MAX_CONNECTIONS_PER_USER. One instance counts in memory; several
// count in Redis (redis-connection-registry.ts) so the limit holds across all of them.

/** Ends the reservation of one connection; calling it again does nothing. */
export type ConnectionRelease = () => void;

export interface ConnectionRegistry {
  /**
   * Counts a new connection of the user against `max`: resolves to its release, or undefined when the user
   * already holds `max` connections (the new one is refused; the old ones stay).
   */
  reserve(appId: string, userId: string, max: number): Promise<ConnectionRelease | undefined>;
  close(): Promise<void>;
}

/** Connections of this instance only. */
export function createMemoryConnectionRegistry(): ConnectionRegistry {
  const counts = new Map<string, number>();
  return {
    async reserve(appId, userId, max) {
      const key = `${appId}\n${userId}`;
      const n = counts.get(key) ?? 0;
      if (n >= max) return undefined;
      counts.set(key, n + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (counts.get(key) ?? 1) - 1;
        if (left <= 0) counts.delete(key);
        else counts.set(key, left);
      };
    },
    async close() {
      counts.clear();
    },
  };
}
