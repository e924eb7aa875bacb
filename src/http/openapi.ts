// The OpenAPI document (GET /openapi.json), made by @fastify/swagger from the routes' schemas and finished here
// once for every route, including routes added later: derived operationIds, a description for every response,
// the schemas that carry a `title` shared as components, servers, security schemes, and the 503 any request
// may get. A route only states what is its own (summary, schemas, a response's headers, its security).
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { errorCatalogue, type ErrorCode, type ErrorEntry } from '../errors.js';
import { describeCodes } from './schemas.js';

type Json = Record<string, unknown>;

/**
 * What a success status means when a route says nothing more specific. Error responses list their codes
 * (schemas.ts `errors`, from the catalogue in errors.ts).
 */
const statusMeanings: Record<string, string> = {
  '200': 'OK',
  '201': 'Created',
  '202': 'Accepted',
  '204': 'No content',
};

/** The codes of the catalogue that match, as a described list. */
const codesWhere = (keep: (entry: ErrorEntry, code: ErrorCode) => boolean) =>
  describeCodes((Object.keys(errorCatalogue) as ErrorCode[]).filter((c) => keep(errorCatalogue[c], c)));

/** `GET /v1/conversations/{id}/messages` → `getConversationsMessages`; a trailing parameter reads `By…`. */
export function operationIdOf(method: string, path: string): string {
  const segments = path.split('/').filter((s) => s !== '' && s !== 'v1');
  const words = segments.flatMap((segment, i) => {
    const param = /^\{(.+)\}$/.exec(segment);
    if (!param) return segment.split(/[^A-Za-z0-9]+/);
    return i === segments.length - 1 ? ['by', param[1]!] : [];
  });
  return [method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('');
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Replaces every schema with a `title` (`Event`, `Error`, …) by a `$ref` to one component of that name. Two
 * different schemas under one title would make one of them wrong in every generated client: refused.
 */
function shareTitledSchemas(node: unknown, components: Json): unknown {
  if (Array.isArray(node)) return node.map((n) => shareTitledSchemas(n, components));
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = shareTitledSchemas(v, components);
  const title = out.title;
  if (typeof title !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(title)) return out;
  const existing = components[title];
  if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(out)) {
    throw new Error(`OpenAPI: two different schemas are titled "${title}"; give one another title`);
  }
  components[title] = out;
  return { $ref: `#/components/schemas/${title}` };
}

/** Every operation: an operationId, a description per response, and the 503 any request may get. */
function finishOperations(paths: Json): void {
  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item as Json)) {
      if (!isObject(op)) continue;
      op.operationId ??= operationIdOf(method, path);
      const id = op.operationId as string;
      const other = seen.get(id);
      if (other)
        throw new Error(`OpenAPI: ${method.toUpperCase()} ${path} and ${other} share operationId ${id}`);
      seen.set(id, `${method.toUpperCase()} ${path}`);
      const responses = (op.responses ??= {}) as Json;
      for (const [status, response] of Object.entries(responses)) {
        if (isObject(response) && (!response.description || response.description === 'Default Response')) {
          response.description = statusMeanings[status] ?? 'See the summary';
        }
      }
      // Any request can be refused before its route runs (a malformed URL or request: README "Refusals").
      if (!Object.keys(responses).some((status) => status.startsWith('4'))) {
        responses['4XX'] = { $ref: '#/components/responses/Refused' };
      }
      responses['503'] ??= { $ref: '#/components/responses/Unavailable' };
    }
  }
}

export function finishDocument(document: Json): Json {
  const components = (document.components ??= {}) as Json;
  const schemas = (components.schemas ??= {}) as Json;
  const paths = shareTitledSchemas(document.paths ?? {}, schemas) as Json;
  finishOperations(paths);
  components.headers = {
    RetryAfter: {
      description: 'Seconds to wait before retrying',
      schema: { type: 'integer', minimum: 0 },
    },
  };
  const error = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  components.responses = {
    Refused: {
      description: `Refused before the route ran:\n${codesWhere((e) => e.beforeRoute === true)}`,
      content: error,
    },
    Unavailable: {
      description: `Unavailable for now: retry after \`Retry-After\` seconds.\n${codesWhere((e) => e.status === 503 && e.only === undefined)}`,
      headers: { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } },
      content: error,
    },
  };
  return { ...document, paths };
}

export const openapiOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'oncely',
      version: '1',
      description:
        'Exactly-once messaging: idempotent sends, gapless per-conversation seq, realtime delivery. Every error is `{"error":{"code","message"}}`. The WebSocket protocol at `/v1/ws` is described in the README.',
      // As package.json: no license has been chosen yet (redocly.yaml says why its strict rule is off).
      license: { name: 'UNLICENSED' },
    },
    // Relative: the instance that serves this document (behind a proxy, its public address).
    servers: [{ url: '/', description: 'The oncely instance serving this document' }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'The admin token, an app API key, or a user token; each operation says which it takes',
        },
        standardWebhooks: {
          type: 'apiKey',
          in: 'header',
          name: 'webhook-signature',
          description:
            'Standard Webhooks: `webhook-signature` is `v1,<base64 HMAC-SHA256 of "webhook-id.webhook-timestamp.body">` under the callback source secret (whsec_…), with the `webhook-id` and `webhook-timestamp` headers; required when the source has a secret',
        },
      },
    },
  },
  transformObject: (documentObject) =>
    finishDocument((documentObject as { openapiObject: Json }).openapiObject) as never,
};
