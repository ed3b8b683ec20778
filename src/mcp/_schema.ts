/**
 * The JSON Schemas of the MCP tools' inputs, and the check of a call's
 * arguments against them: the schema a client is shown is the one its
 * arguments are held to, so the two cannot drift apart.
 */

/** A value of one JSON type, described for the model that fills it in. */
export interface ValueSchema {
  /** The JSON type; none means any JSON value. */
  type?: "string" | "integer" | "number" | "boolean" | "array" | "object";
  /** What the value means, and its default. */
  description: string;
  /** The allowed values (strings). */
  enum?: readonly string[];
  /** The least number allowed. */
  minimum?: number;
  /** The greatest number allowed. */
  maximum?: number;
  /** The fewest characters a string may have. */
  minLength?: number;
  /** The fewest items an array may have. */
  minItems?: number;
  /** What each item of an array is. */
  items?: ValueSchema;
  /** An object's fields. */
  properties?: Record<string, ValueSchema>;
  /** The fields an object must have. */
  required?: readonly string[];
  /** Whether an object may have fields other than `properties` (never here). */
  additionalProperties?: false;
}

/** A tool's input: an object with named fields. */
export interface ObjectSchema extends ValueSchema {
  type: "object";
  properties: Record<string, ValueSchema>;
  additionalProperties: false;
}

/** Makes an object schema: the fields, the required ones; no other field allowed. */
export function objectSchema(
  description: string,
  properties: Record<string, ValueSchema>,
  required: readonly string[] = [],
): ObjectSchema {
  return {
    type: "object",
    description,
    properties,
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
  };
}

/** A value in a message: JSON, cut short when long. */
function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const ARTICLE: Record<string, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  array: "an array",
  object: "an object",
};

function typeMatches(type: NonNullable<ValueSchema["type"]>, value: unknown): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
  }
}

/**
 * Checks `value` (named `path` in messages) against `schema`; a mismatch is
 * a `TypeError` (wrong type, unknown field) or a `RangeError` (out of range,
 * not an allowed value) that names the field, what it got and what is allowed.
 */
export function checkValue(path: string, schema: ValueSchema, value: unknown): void {
  if (schema.type !== undefined && !typeMatches(schema.type, value)) {
    throw new TypeError(`${path} must be ${ARTICLE[schema.type]}, got ${shown(value)}`);
  }
  if (schema.enum !== undefined && !schema.enum.includes(value as string)) {
    throw new RangeError(
      `${path} must be one of ${schema.enum.join(", ")}, got ${shown(value)}`,
    );
  }
  if (typeof value === "number") {
    if (
      (schema.minimum !== undefined && value < schema.minimum) ||
      (schema.maximum !== undefined && value > schema.maximum)
    ) {
      throw new RangeError(
        `${path} must be from ${schema.minimum ?? "-Infinity"} to ${
          schema.maximum ?? "Infinity"
        }, got ${value}`,
      );
    }
  }
  if (typeof value === "string" && schema.minLength !== undefined) {
    if (value.trim().length < schema.minLength) {
      throw new RangeError(`${path} must not be blank, got ${shown(value)}`);
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      throw new RangeError(
        `${path} must have at least ${schema.minItems} item${
          schema.minItems === 1 ? "" : "s"
        }, got ${value.length}`,
      );
    }
    if (schema.items !== undefined) {
      for (const [i, item] of value.entries()) checkValue(`${path}[${i}]`, schema.items, item);
    }
  }
  if (schema.type === "object" && schema.properties !== undefined) {
    checkObject(path, schema, value as Record<string, unknown>);
  }
}

function checkObject(path: string, schema: ValueSchema, value: Record<string, unknown>): void {
  const properties = schema.properties!;
  const at = (key: string) => path === "" ? key : `${path}.${key}`;
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(properties, key)) {
      const known = Object.keys(properties);
      throw new TypeError(
        `unknown argument ${JSON.stringify(at(key))}; allowed are: ${
          known.length === 0 ? "none" : known.join(", ")
        }`,
      );
    }
  }
  for (const key of schema.required ?? []) {
    if (value[key] === undefined || value[key] === null) {
      throw new TypeError(`${at(key)} is required: ${properties[key].description}`);
    }
  }
  for (const [key, field] of Object.entries(properties)) {
    // null stands for "not given", as many clients send it for an empty field.
    if (value[key] !== undefined && value[key] !== null) checkValue(at(key), field, value[key]);
  }
}

/**
 * Checks a tool call's arguments against its input schema and returns them
 * without the fields given as `null` (which mean "not given").
 */
export function checkArguments(
  schema: ObjectSchema,
  args: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const value = args ?? {};
  checkValue("", schema, value);
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}
