// Request validation, one Ajv per part of the request. A JSON body is validated strictly: a wrong type is
// a 400, never silently coerced (`5` into `"5"`, `"alice"` into `["alice"]`). Query strings, params and
// headers arrive as text, so there numbers and booleans are coerced from their text form.
import { Ajv, type Options, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import { describeAjvErrors } from './validation-messages.js';

function ajv(options: Options): Ajv {
  const instance = new Ajv({
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    // Each error carries its schema and data, so a refusal can say what was expected (validation-messages.ts).
    verbose: true,
    strict: false,
    ...options,
  });
  addFormats.default(instance);
  return instance;
}

const strict = ajv({ coerceTypes: false });

export function createValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const fromText = ajv({ coerceTypes: 'array' });
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : fromText).compile(schema as object);
}

export interface BodyCheck {
  validate: ValidateFunction;
  /** What is wrong with `data`, in words naming `path`; undefined when it is valid. */
  problem(data: unknown, path: string): string | undefined;
}

/** A JSON-body schema checked outside Fastify's own validation (a batch's items, one by one). */
export function compileBodyCheck(schema: object): BodyCheck {
  const validate = strict.compile(schema);
  return {
    validate,
    problem: (data, path) =>
      validate(data) ? undefined : describeAjvErrors((validate.errors ?? []) as ErrorObject[], path),
  };
}
