// Request validation, one Ajv per part of the request. A JSON body is validated strictly: a wrong type is
// a 400, never silently coerced (`5` into `"5"`, `"alice"` into `["alice"]`). Query strings, params and
// headers arrive as text, so there numbers and booleans are coerced from their text form.
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

function ajv(options: Options): Ajv {
  const instance = new Ajv({
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    strict: false,
    ...options,
  });
  addFormats.default(instance);
  return instance;
}

export function createValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strict = ajv({ coerceTypes: false });
  const fromText = ajv({ coerceTypes: 'array' });
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : fromText).compile(schema as object);
}
