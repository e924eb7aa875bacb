import { describe, expect, it } from 'vitest';
import { finishDocument, operationIdOf } from '../../src/http/openapi.js';

describe('the OpenAPI finishing', () => {
  it('derives operationIds from method and path; a trailing parameter reads By…', () => {
    expect(operationIdOf('post', '/v1/conversations/{id}/messages')).toBe('postConversationsMessages');
    expect(operationIdOf('get', '/v1/conversations/{id}')).toBe('getConversationsById');
    expect(operationIdOf('delete', '/v1/conversations/{id}/members/{userId}')).toBe(
      'deleteConversationsMembersByUserId',
    );
    expect(operationIdOf('put', '/v1/callback-sources/{sourceId}')).toBe('putCallbackSourcesBySourceId');
    expect(operationIdOf('get', '/healthz')).toBe('getHealthz');
  });

  it('refuses two routes whose derived operationIds collide (one must name its own)', () => {
    const ok = { responses: { '200': { description: 'OK' } } };
    expect(() =>
      finishDocument({ paths: { '/a/{x}/b': { get: { ...ok } }, '/a/b': { get: { ...ok } } } }),
    ).toThrow(/share operationId getAB/);
  });

  it('shares titled schemas as components and refuses two different schemas under one title', () => {
    const thing = { title: 'Thing', type: 'object', properties: { a: { type: 'string' } } };
    const response = (schema: object) => ({
      responses: { '200': { content: { 'application/json': { schema } } } },
    });
    const done = finishDocument({
      paths: { '/x': { get: response(thing) }, '/y': { get: response(thing) } },
    }) as any;
    expect(done.components.schemas.Thing).toEqual(thing);
    expect(done.paths['/y'].get.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Thing',
    });
    expect(done.paths['/y'].get.responses['200'].description).toBe('OK');
    const other = { ...thing, properties: { b: { type: 'integer' } } };
    expect(() =>
      finishDocument({ paths: { '/x': { get: response(thing) }, '/y': { get: response(other) } } }),
    ).toThrow(/two different schemas are titled "Thing"/);
  });
});
