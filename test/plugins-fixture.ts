// A plugin for the plugin tests: records every afterCommit, refuses texts starting "refuse:" and enriches
// texts starting "upper:" (upper-cased). Not a test file itself; loaded through ONCELY_PLUGIN.
import type { WireEvent } from '../src/conversations/events.js';
import { OncelyError } from '../src/errors.js';
import type { IngestHooks } from '../src/ingest/ingest.js';

export const committed: WireEvent[] = [];

const hooks: IngestHooks = {
  beforeCommit(cmd) {
    if (cmd.body.type !== 'text') return;
    if (cmd.body.text.startsWith('refuse:'))
      throw new OncelyError(422, 'refused_by_plugin', 'the test plugin refuses this');
    if (cmd.body.text.startsWith('upper:')) return { ...cmd.body, text: cmd.body.text.toUpperCase() };
  },
  afterCommit(event) {
    committed.push(event);
  },
};

export default hooks;
