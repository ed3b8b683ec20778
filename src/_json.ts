/** JSON values: what params and results may be. */
import { describe } from "./job_status.ts";

/** A value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

const ALLOWED = "allowed: null, boolean, finite number, string, array, plain object";

function check(value: unknown, path: string, seen: unknown[]): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : `${path} is ${value}, which is not a JSON value`;
    case "object": {
      if (value === null) return undefined;
      if (seen.includes(value)) return `${path} refers back to itself (a cycle)`;
      if (Array.isArray(value)) {
        seen.push(value);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return `${path}[${i}] is an empty array slot`;
          const bad = check(value[i], `${path}[${i}]`, seen);
          if (bad) return bad;
        }
        seen.pop();
        return undefined;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        return `${path} is ${describe(value)}, which is not a JSON value`;
      }
      if (Object.getOwnPropertySymbols(value).length > 0) {
        return `${path} has a symbol key, which JSON cannot hold`;
      }
      seen.push(value);
      for (const key in value) {
        const bad = check(
          (value as Record<string, unknown>)[key],
          /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`,
          seen,
        );
        if (bad) return bad;
      }
      seen.pop();
      return undefined;
    }
    default:
      return `${path} is ${describe(value)}, which is not a JSON value`;
  }
}

/**
 * Serializes `value` as JSON, refusing anything that would not come back
 * unchanged. Throws a `TypeError` naming the offending path, or a
 * `RangeError` when the text exceeds `maxBytes` UTF-8 bytes.
 */
export function toJson(value: unknown, path: string, context: string, maxBytes: number): string {
  const bad = check(value, path, []);
  if (bad !== undefined) throw new TypeError(`${context}: ${bad} (${ALLOWED})`);
  const text = JSON.stringify(value);
  if (text.length * 3 > maxBytes) {
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > maxBytes) {
      throw new RangeError(
        `${context}: ${path} is ${bytes} bytes of JSON, over the limit of ${maxBytes} bytes ` +
          `(the maxPayloadBytes option)`,
      );
    }
  }
  return text;
}

/** Parses stored JSON; SQL NULL reads as `null`. */
export function fromJson(text: unknown): JsonValue {
  return typeof text === "string" ? JSON.parse(text) as JsonValue : null;
}
