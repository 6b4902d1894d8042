/**
 * Can a reader of one JSON Schema read everything a writer of another writes? Pure: JSON Schema in, the
 * incompatibilities (each naming its field) out. It covers the subset `z.toJSONSchema` emits for this
 * project's events (types, const/enum, string, number and array bounds, objects, records, anyOf) and
 * refuses to guess on any other keyword: an unknown keyword is reported, never ignored.
 *
 * The writer's schema is read as what it can write, the reader's as what it accepts:
 * - a writer object without `additionalProperties` writes only the fields it declares (producers encode
 *   through zod, which strips undeclared keys); one with a schema there (a record) may write any key;
 * - a reader object without `additionalProperties` accepts undeclared fields (zod's `z.object` ignores
 *   them): adding an optional field is safe both ways;
 * - enums are closed: a value the reader does not list is refused (zod's `z.enum` fails the record), so
 *   adding an enum value breaks old readers, unless the reader's field also accepts any string
 *   (`z.enum([...]).or(z.string())`, an `anyOf` with a plain string), which the check sees.
 */

export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

export type ChangeKind =
  | 'type-narrowed'
  | 'value-not-accepted'
  | 'values-narrowed'
  | 'field-missing'
  | 'field-optional'
  | 'field-refused'
  | 'bound-narrowed'
  | 'constraint-changed'
  | 'no-alternative'
  | 'unsupported-keyword';

export interface Incompatibility {
  /** Dotted path of the field, `items[]` for array items, `*` for a record's values; empty for the root. */
  path: string;
  kind: ChangeKind;
  message: string;
}

type Schema = { readonly [keyword: string]: unknown };

/** Keywords the check understands; `default` and annotations do not change what is valid. */
const KNOWN = new Set([
  ...['$schema', '$id', 'title', 'description', 'default', 'examples'],
  ...['type', 'const', 'enum', 'anyOf'],
  ...['minLength', 'maxLength', 'pattern', 'format', 'contentEncoding'],
  ...['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
  ...['items', 'minItems', 'maxItems'],
  ...['properties', 'required', 'additionalProperties', 'propertyNames'],
]);

const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'array', 'object'] as const;

/** Everything the reader would refuse of what the writer may write; empty when compatible. */
export function incompatibilities(writer: JsonSchema, reader: JsonSchema): Incompatibility[] {
  const issues: Incompatibility[] = [];
  check(normalise(writer), normalise(reader), '', issues);
  return issues;
}

function normalise(schema: JsonSchema): Schema | false {
  if (schema === true) return {};
  return schema;
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);
const show = (value: unknown): string => JSON.stringify(value);

function check(
  writer: Schema | false,
  reader: Schema | false,
  path: string,
  issues: Incompatibility[],
): void {
  if (writer === false) return; // writes nothing
  if (reader === false) {
    issues.push({
      path,
      kind: 'field-refused',
      message: `${path || 'the value'}: the reader accepts nothing`,
    });
    return;
  }
  for (const keyword of new Set([...Object.keys(writer), ...Object.keys(reader)])) {
    if (KNOWN.has(keyword)) continue;
    issues.push({
      path,
      kind: 'unsupported-keyword',
      message: `${path || 'the root'}: keyword "${keyword}" is not one the compatibility check can compare`,
    });
  }
  if (Array.isArray(writer.anyOf)) {
    const { anyOf, ...rest } = writer;
    for (const branch of anyOf as JsonSchema[]) check(merged(rest, branch), reader, path, issues);
    return;
  }
  if (Array.isArray(reader.anyOf)) {
    checkAgainstAlternatives(writer, reader, path, issues);
    return;
  }
  if (!checkTypes(writer, reader, path, issues)) return;
  checkValues(writer, reader, path, issues);
  checkStrings(writer, reader, path, issues);
  checkNumbers(writer, reader, path, issues);
  checkArrays(writer, reader, path, issues);
  checkObjects(writer, reader, path, issues);
}

function merged(base: Schema, branch: JsonSchema): Schema | false {
  const normal = normalise(branch);
  return normal === false ? false : { ...base, ...normal };
}

/** The writer's value must fit one of the reader's alternatives; reports the closest one's issues. */
function checkAgainstAlternatives(writer: Schema, reader: Schema, path: string, issues: Incompatibility[]) {
  const { anyOf, ...rest } = reader;
  let closest: Incompatibility[] | undefined;
  for (const branch of anyOf as JsonSchema[]) {
    const branchIssues: Incompatibility[] = [];
    check(writer, merged(rest, branch), path, branchIssues);
    if (branchIssues.length === 0) return;
    if (!closest || branchIssues.length < closest.length) closest = branchIssues;
  }
  issues.push({
    path,
    kind: 'no-alternative',
    message: `${path || 'the value'}: fits none of the reader's alternatives`,
  });
  issues.push(...(closest ?? []));
}

/** The JSON types a schema admits; `integer` is a subset of `number`. */
function typesOf(schema: Schema): Set<string> {
  if (typeof schema.type === 'string') return new Set([schema.type]);
  if (Array.isArray(schema.type)) return new Set(schema.type as string[]);
  const values = valuesOf(schema);
  if (values) return new Set(values.map(jsonType));
  return new Set(TYPES);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function checkTypes(writer: Schema, reader: Schema, path: string, issues: Incompatibility[]): boolean {
  const accepted = typesOf(reader);
  const refused = [...typesOf(writer)].filter(
    (type) => !accepted.has(type) && !(type === 'integer' && accepted.has('number')),
  );
  if (refused.length === 0) return true;
  issues.push({
    path,
    kind: 'type-narrowed',
    message: `${path || 'the value'}: type ${refused.join(', ')} written, the reader accepts only ${[...accepted].join(', ')}`,
  });
  return false;
}

/** The closed set of values of a `const` or `enum`, or undefined when any value of the type goes. */
function valuesOf(schema: Schema): unknown[] | undefined {
  if ('const' in schema) return [schema.const];
  if (Array.isArray(schema.enum)) return schema.enum;
  return undefined;
}

function checkValues(writer: Schema, reader: Schema, path: string, issues: Incompatibility[]): void {
  const accepted = valuesOf(reader);
  if (!accepted) return;
  const written = valuesOf(writer);
  if (!written) {
    issues.push({
      path,
      kind: 'values-narrowed',
      message: `${path || 'the value'}: any value written, the reader accepts only ${accepted.map(show).join(', ')}`,
    });
    return;
  }
  const key = (value: unknown) => JSON.stringify(value);
  const acceptedKeys = new Set(accepted.map(key));
  for (const value of written) {
    if (acceptedKeys.has(key(value))) continue;
    issues.push({
      path,
      kind: 'value-not-accepted',
      message: `${path || 'the value'}: value ${show(value)} written, not among the reader's ${accepted.map(show).join(', ')}`,
    });
  }
}

function narrowedBound(
  path: string,
  keyword: string,
  written: number | undefined,
  accepted: number | undefined,
  readerIsStricter: (w: number, r: number) => boolean,
): Incompatibility | undefined {
  if (accepted === undefined) return undefined;
  if (written !== undefined && !readerIsStricter(written, accepted)) return undefined;
  return {
    path,
    kind: 'bound-narrowed',
    message: `${path || 'the value'}: ${keyword} ${accepted} for the reader, ${written ?? 'none'} for the writer`,
  };
}

const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);

function checkStrings(writer: Schema, reader: Schema, path: string, issues: Incompatibility[]): void {
  const min = narrowedBound(path, 'minLength', num(writer.minLength), num(reader.minLength), (w, r) => r > w);
  const max = narrowedBound(path, 'maxLength', num(writer.maxLength), num(reader.maxLength), (w, r) => r < w);
  for (const issue of [min, max]) if (issue) issues.push(issue);
  for (const keyword of ['pattern', 'format', 'contentEncoding']) {
    if (reader[keyword] === undefined || reader[keyword] === writer[keyword]) continue;
    // Two different patterns cannot be compared in general: a changed one is reported, not guessed at.
    issues.push({
      path,
      kind: 'constraint-changed',
      message: `${path || 'the value'}: ${keyword} ${show(reader[keyword])} for the reader, ${show(writer[keyword]) ?? 'none'} for the writer`,
    });
  }
}

interface Bound {
  value: number;
  exclusive: boolean;
}

function lowerBound(schema: Schema): Bound | undefined {
  const inclusive = num(schema.minimum);
  const exclusive = num(schema.exclusiveMinimum);
  if (exclusive !== undefined && (inclusive === undefined || exclusive >= inclusive)) {
    return { value: exclusive, exclusive: true };
  }
  return inclusive === undefined ? undefined : { value: inclusive, exclusive: false };
}

function upperBound(schema: Schema): Bound | undefined {
  const inclusive = num(schema.maximum);
  const exclusive = num(schema.exclusiveMaximum);
  if (exclusive !== undefined && (inclusive === undefined || exclusive <= inclusive)) {
    return { value: exclusive, exclusive: true };
  }
  return inclusive === undefined ? undefined : { value: inclusive, exclusive: false };
}

const showBound = (bound: Bound | undefined, op: string): string =>
  bound ? `${op}${bound.exclusive ? '' : '='} ${bound.value}` : 'none';

function checkNumbers(writer: Schema, reader: Schema, path: string, issues: Incompatibility[]): void {
  const [wLow, rLow] = [lowerBound(writer), lowerBound(reader)];
  if (
    rLow &&
    (!wLow || wLow.value < rLow.value || (wLow.value === rLow.value && rLow.exclusive && !wLow.exclusive))
  ) {
    issues.push({
      path,
      kind: 'bound-narrowed',
      message: `${path || 'the value'}: minimum ${showBound(rLow, '>')} for the reader, ${showBound(wLow, '>')} for the writer`,
    });
  }
  const [wHigh, rHigh] = [upperBound(writer), upperBound(reader)];
  if (
    rHigh &&
    (!wHigh ||
      wHigh.value > rHigh.value ||
      (wHigh.value === rHigh.value && rHigh.exclusive && !wHigh.exclusive))
  ) {
    issues.push({
      path,
      kind: 'bound-narrowed',
      message: `${path || 'the value'}: maximum ${showBound(rHigh, '<')} for the reader, ${showBound(wHigh, '<')} for the writer`,
    });
  }
}

function checkArrays(writer: Schema, reader: Schema, path: string, issues: Incompatibility[]): void {
  const min = narrowedBound(path, 'minItems', num(writer.minItems), num(reader.minItems), (w, r) => r > w);
  const max = narrowedBound(path, 'maxItems', num(writer.maxItems), num(reader.maxItems), (w, r) => r < w);
  for (const issue of [min, max]) if (issue) issues.push(issue);
  if (reader.items === undefined) return;
  check(
    normalise((writer.items ?? true) as JsonSchema),
    normalise(reader.items as JsonSchema),
    `${path}[]`,
    issues,
  );
}

const propertiesOf = (schema: Schema): Record<string, JsonSchema> =>
  (schema.properties ?? {}) as Record<string, JsonSchema>;
const requiredOf = (schema: Schema): Set<string> => new Set((schema.required ?? []) as string[]);

function checkObjects(writer: Schema, reader: Schema, path: string, issues: Incompatibility[]): void {
  const [wProps, rProps] = [propertiesOf(writer), propertiesOf(reader)];
  const [wRequired, rRequired] = [requiredOf(writer), requiredOf(reader)];
  const wOthers = writer.additionalProperties as JsonSchema | undefined;
  const rOthers = reader.additionalProperties as JsonSchema | undefined;
  for (const field of rRequired) {
    if (wRequired.has(field)) continue;
    const declared = Object.hasOwn(wProps, field);
    issues.push({
      path: join(path, field),
      kind: declared ? 'field-optional' : 'field-missing',
      message: declared
        ? `${join(path, field)}: required by the reader, optional for the writer`
        : `${join(path, field)}: required by the reader, not written by the writer`,
    });
  }
  for (const [field, schema] of Object.entries(wProps)) {
    const fieldPath = join(path, field);
    if (Object.hasOwn(rProps, field))
      check(normalise(schema), normalise(rProps[field] as JsonSchema), fieldPath, issues);
    else if (rOthers === false) {
      issues.push({
        path: fieldPath,
        kind: 'field-refused',
        message: `${fieldPath}: written, but the reader refuses fields it does not declare`,
      });
    } else if (rOthers !== undefined) check(normalise(schema), normalise(rOthers), fieldPath, issues);
  }
  if (wOthers === undefined || wOthers === false) return;
  // The writer may write keys it does not declare (a record): each must fit what the reader makes of it.
  for (const [field, schema] of Object.entries(rProps)) {
    if (!Object.hasOwn(wProps, field))
      check(normalise(wOthers), normalise(schema), join(path, field), issues);
  }
  if (rOthers !== undefined) check(normalise(wOthers), normalise(rOthers), join(path, '*'), issues);
  if (reader.propertyNames !== undefined && show(reader.propertyNames) !== show(writer.propertyNames)) {
    issues.push({
      path,
      kind: 'constraint-changed',
      message: `${path || 'the value'}: propertyNames ${show(reader.propertyNames)} for the reader, ${show(writer.propertyNames) ?? 'none'} for the writer`,
    });
  }
}

export interface CompatibilityReport {
  /** What a consumer of the committed version would refuse of what the current producer writes. */
  forward: Incompatibility[];
  /** What the current consumer would refuse of what a producer of the committed version wrote (a rollback, or records still on the topic). */
  backward: Incompatibility[];
}

/** Both directions between a committed version and the current schema of the same version. */
export function compareVersions(committed: JsonSchema, current: JsonSchema): CompatibilityReport {
  return { forward: incompatibilities(current, committed), backward: incompatibilities(committed, current) };
}

/** One line per incompatibility, saying who would refuse what. */
export function describeReport(name: string, report: CompatibilityReport): string[] {
  return [
    ...report.forward.map(
      (i) => `${name}: a consumer of the committed schema would refuse the new one: ${i.message}`,
    ),
    ...report.backward.map(
      (i) =>
        `${name}: the new schema would refuse what the committed one allowed (rollback, records on the topic): ${i.message}`,
    ),
  ];
}
