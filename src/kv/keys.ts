/**
 * Keys and values of the KV facade: which are accepted, and their canonical
 * text in the `gigq_kv` table.
 *
 * @module
 */
import { toJson } from "../_json.ts";
import { describe } from "../job_status.ts";

/** One part of a {@linkcode KvKey}: a string, a finite number or a boolean. */
export type KvKeyPart = string | number | boolean;

/** A key: a non-empty array of parts, as `["failed", "user", 42]`. */
export type KvKey = readonly KvKeyPart[];

/** Most parts of a key. */
export const MAX_KEY_PARTS = 100;

/** Most UTF-16 code units of a key's canonical text. */
export const MAX_KEY_TEXT = 2048;

/**
 * The canonical text of `key` (the JSON of its parts), refusing anything but
 * a non-empty array of strings, finite numbers and booleans. `allowEmpty`
 * allows `[]` (a list prefix).
 */
export function encodeKey(
  context: string,
  field: string,
  key: unknown,
  allowEmpty = false,
): string {
  if (!Array.isArray(key)) {
    throw new TypeError(
      `${context}: ${field} must be an array of key parts (strings, finite numbers, booleans), ` +
        `got ${describe(key)}`,
    );
  }
  if (key.length === 0 && !allowEmpty) {
    throw new TypeError(`${context}: ${field} must have at least one part, got []`);
  }
  if (key.length > MAX_KEY_PARTS) {
    throw new RangeError(
      `${context}: ${field} has ${key.length} parts; at most ${MAX_KEY_PARTS} are allowed`,
    );
  }
  for (const [i, part] of key.entries()) {
    const ok = typeof part === "string"
      ? part.isWellFormed()
      : typeof part === "boolean" || (typeof part === "number" && Number.isFinite(part));
    if (!ok) {
      throw new TypeError(
        `${context}: ${field}[${i}] must be a string (well-formed Unicode), a finite number or ` +
          `a boolean, got ${describe(part)}` +
          (typeof part === "bigint" || part instanceof Uint8Array
            ? " (bigint and Uint8Array key parts of Deno KV are not supported)"
            : ""),
      );
    }
  }
  // -0 is 0, as JSON writes it.
  const text = JSON.stringify(key);
  if (text.length > MAX_KEY_TEXT) {
    throw new RangeError(
      `${context}: ${field} is ${text.length} characters as JSON; at most ${MAX_KEY_TEXT} ` +
        `are allowed`,
    );
  }
  return text;
}

/** The key whose canonical text is `text`. */
export function decodeKey(text: string): KvKeyPart[] {
  return JSON.parse(text) as KvKeyPart[];
}

/**
 * The canonical prefix of every key under `prefix` (and not `prefix` itself):
 * its JSON without the closing bracket, followed by a comma (`[` for `[]`).
 */
export function keyPrefix(context: string, prefix: unknown): string {
  const text = encodeKey(context, "prefix", prefix, true);
  return text === "[]" ? "[" : `${text.slice(0, -1)},`;
}

/** The JSON of a value, refusing what JSON cannot hold (naming `field`). */
export function encodeValue(
  context: string,
  field: string,
  value: unknown,
  maxBytes: number,
): string {
  if (value === undefined) {
    throw new TypeError(
      `${context}: ${field} must be a JSON value (null, a boolean, a finite number, a string, ` +
        `an array or a plain object of those), got undefined`,
    );
  }
  return toJson(value, field, context, maxBytes);
}
