// The connection indicator: connected, reconnecting (with the countdown to the next attempt), long-poll
// fallback, or offline. The countdown ticks visually; screen readers hear only changes of kind.
import { useEffect, useState } from 'preact/hooks';
import type { ConnectionState } from '../../client/index.js';
import { connectionView } from './connection-view.js';

export function ConnectionIndicator({ state, online }: { state: ConnectionState; online: boolean }) {
  const [now, setNow] = useState(() => Date.now());
  const waiting = state.status === 'waiting';
  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [waiting]);
  const view = connectionView(state, online, waiting ? now : Date.now());
  const spoken = view.kind === 'reconnecting' ? 'Reconnecting' : view.label;
  return (
    <div class={`connection connection-${view.kind}`} data-testid="connection" data-kind={view.kind}>
      <span class="connection-dot" aria-hidden="true" />
      <span role="status" class="visually-hidden">
        {spoken}
      </span>
      <span aria-hidden="true" data-testid="connection-label">
        {view.label}
      </span>
    </div>
  );
}
