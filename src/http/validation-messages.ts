// What a refused request should have been, in words: Ajv's errors (validated with `verbose`, so each error
// carries its schema and data) turned into one message that names the field and what it expects — the
// allowed values of an enum, the shapes of a union, the properties an object takes.
import type { ErrorObject } from 'ajv';
import type { FastifyError } from 'fastify';

type Schema = Record<string, unknown> & { description?: string };

/** `"a", "b" or "c"`. */
function list(values: unknown[]): string {
  const quoted = values.map((v) => JSON.stringify(v));
  return quoted.length < 2 ? (quoted[0] ?? '') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

const isConst = (s: Schema): boolean => 'const' in s;

/** The branch of a tagged union (`{type: "text", …} | {type: "custom", …}`) whose tag the data carries. */
function taggedBranch(branches: Schema[], data: unknown): number {
  if (typeof data !== 'object' || data === null) return -1;
  return branches.findIndex((b) => {
    const props = b.properties as Record<string, Schema> | undefined;
    if (!props) return false;
    return Object.entries(props).some(
      ([k, p]) => isConst(p) && (data as Record<string, unknown>)[k] === p.const,
    );
  });
}

function describe(error: ErrorObject, all: ErrorObject[], part: string): string {
  const where = `${part}${error.instancePath}`;
  const parent = (error.parentSchema ?? {}) as Schema;
  switch (error.keyword) {
    case 'anyOf': {
      const branches = (error.schema ?? []) as Schema[];
      if (branches.length > 0 && branches.every(isConst)) {
        return `${where} must be ${list(branches.map((b) => b.const))}`;
      }
      // A tagged union whose tag the data names: that branch's own complaint is the useful one.
      const tagged = taggedBranch(branches, error.data);
      const inner = all.find((e) => e.schemaPath.startsWith(`${error.schemaPath}/${tagged}/`));
      if (tagged >= 0 && inner) return describe(inner, all, part);
      if (parent.description) return `${where} must be ${parent.description}`;
      const consts = branches.filter(isConst).map((b) => b.const);
      const others = branches.filter((b) => !isConst(b)).map((b) => String(b.type ?? 'a value'));
      return `${where} must be ${[...consts.map((c) => JSON.stringify(c)), ...others].join(' or ')}`;
    }
    case 'additionalProperties': {
      const allowed = Object.keys((parent.properties as object | undefined) ?? {});
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      return `${where} has an unknown property "${extra}"${allowed.length ? `; it takes ${allowed.join(', ')}` : ''}`;
    }
    case 'required':
      return `${where} must have the property "${(error.params as { missingProperty: string }).missingProperty}"`;
    case 'const':
      return `${where} must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    case 'minLength':
      if ((error.params as { limit: number }).limit === 1) return `${where} must not be empty`;
      return `${where} ${error.message ?? 'is too short'}`;
    case 'enum':
      return `${where} must be ${list((error.params as { allowedValues: unknown[] }).allowedValues)}`;
    default:
      return `${where} ${error.message ?? 'is not valid'}`;
  }
}

/** The message for Ajv's errors of one validation of `part` (`body`, `querystring`, `items/3`…). */
export function describeAjvErrors(errors: ErrorObject[], part: string): string {
  // With `allErrors` off, the failing keyword at the shallowest level comes last; a union's branch errors
  // come before it.
  const top = errors.at(-1);
  return top ? describe(top, errors, part) : `${part} is not valid`;
}

/** The message of a request's schema validation failure. */
export function describeValidationError(fe: FastifyError): string {
  const errors = (fe.validation ?? []) as ErrorObject[];
  return errors.length ? describeAjvErrors(errors, fe.validationContext ?? 'body') : fe.message;
}
