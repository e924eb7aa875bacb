// An example oncely plugin: refuses messages containing a blocked word, before anything is stored, and logs
// each message it let through after its commit. `npm run build` compiles it; load it with
//   ONCELY_PLUGIN=./dist/examples/plugins/keyword-filter.js ONCELY_KEYWORD_FILTER_WORDS=spam,scam npm start
// A plugin needs nothing from oncely at run time: a refusal is any error with a 4xx `status` and a `code`.
import type { IngestHooks, SendCommand } from '../../src/ingest/ingest.js';
import type { PluginContext } from '../../src/plugins/load-plugin.js';

class Refusal extends Error {
  readonly status = 422;
  readonly code = 'message_refused';
}

/** The words of a message body: its text, or the strings inside a custom body. */
function wordsOf(body: SendCommand['body']): string[] {
  const text = body.type === 'text' ? body.text : JSON.stringify(body.data ?? '');
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

export default function keywordFilter({ logger }: PluginContext): IngestHooks {
  const blocked = new Set(
    (process.env.ONCELY_KEYWORD_FILTER_WORDS ?? '')
      .split(',')
      .map((w) => w.trim().toLowerCase())
      .filter(Boolean),
  );
  logger.info({ words: blocked.size }, 'keyword filter active');
  return {
    beforeCommit(cmd) {
      const hit = wordsOf(cmd.body).find((w) => blocked.has(w));
      if (hit) throw new Refusal(`the message contains a blocked word ("${hit}")`);
    },
    afterCommit(event) {
      logger.debug(
        { messageId: event.id, conversationId: event.conversationId },
        'keyword filter passed a message',
      );
    },
  };
}
