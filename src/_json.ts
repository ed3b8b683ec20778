/** JSON values: what params and results may be. */
import { clip, describe, quote } from "./job_status.ts";

/** A value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * The deepest nesting params or a result may have: 1,000 arrays or objects,
 * one inside the other. Deeper values are refused with a `RangeError` naming
 * the limit and the path where it was crossed.
 */
export const MAX_JSON_DEPTH = 1000;

const ALLOWED = "allowed: null, boolean, finite number, string, array, plain object";

/** An array or object being walked, and the index of the child being looked at. */
interface Frame {
  node: object;
  /** The object's keys; `undefined` for an array. */
  keys: string[] | undefined;
  /** The child being looked at is `keys[at]` (or index `at`); -1 before the first. */
  at: number;
}

/** The path of the child each frame is looking at, as `root.key[3]["odd key"]`. */
function pathOf(root: string, stack: readonly Frame[], depth: number): string {
  let path = root;
  for (let i = 0; i < depth; i++) {
    const { keys, at } = stack[i];
    if (keys === undefined) path += `[${at}]`;
    else {
      const key = keys[at];
      path += /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${quote(key)}]`;
    }
    if (path.length > 10_000) break; // clip() cuts it to a few hundred characters anyway
  }
  return clip(path);
}

/** Where the first lone surrogate of `text` is, for a message. */
function loneSurrogate(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    } else if (c < 0xdc00 || c > 0xdfff) continue;
    return `a lone surrogate \\u${c.toString(16).toUpperCase()} at index ${i}`;
  }
  return "a lone surrogate";
}

/**
 * The depth of the first container on the path that is also an ancestor of
 * itself (where a cycle refers back), or -1: `stack[0..depth)`, then `last`.
 */
function firstRepeat(stack: readonly Frame[], depth: number, last: object | undefined): number {
  const seen = new Set<object>();
  for (let i = 0; i <= depth; i++) {
    const node = i < depth ? stack[i].node : last;
    if (node === undefined) break;
    if (seen.has(node)) return i;
    seen.add(node);
  }
  return -1;
}

/**
 * Why `value` is not a JSON value that comes back unchanged, or `undefined`
 * when it is; `limit` is the point where the walk gives up on size. One pass,
 * without recursion: a value nested deeper than {@linkcode MAX_JSON_DEPTH}
 * is refused instead of overflowing the stack.
 */
function check(
  value: unknown,
  root: string,
  limit: number,
): { error: typeof TypeError | typeof RangeError; message: string } | undefined {
  const stack: Frame[] = [];
  let depth = 0;
  let count = 0;
  const bad = (what: string, at = depth) => ({
    error: TypeError,
    message: `${pathOf(root, stack, at)} ${what}`,
  });
  for (;;) {
    // Look at `value`, the child the top frame is at (or the root).
    switch (typeof value) {
      case "string":
        if (!value.isWellFormed()) {
          return bad(`is a string that is not well-formed Unicode (${loneSurrogate(value)})`);
        }
        break;
      case "boolean":
        break;
      case "number":
        if (!Number.isFinite(value)) return bad(`is ${value}, which is not a JSON value`);
        break;
      case "object": {
        if (value === null) break;
        let keys: string[] | undefined;
        if (!Array.isArray(value)) {
          const proto = Object.getPrototypeOf(value);
          if (proto !== Object.prototype && proto !== null) {
            return bad(`is ${describe(value)}, which is not a JSON value`);
          }
          if (Object.getOwnPropertySymbols(value).length > 0) {
            return bad("has a symbol key, which JSON cannot hold");
          }
          keys = Object.keys(value);
        }
        if (depth === MAX_JSON_DEPTH) {
          // A cycle is endless nesting: it shows up here, where the path
          // repeats a container. The first repeat is where it refers back.
          const repeat = firstRepeat(stack, depth, value);
          if (repeat >= 0) return bad("refers back to itself (a cycle)", repeat);
          return {
            error: RangeError,
            message: `${root} is nested more than ${MAX_JSON_DEPTH} levels deep at ` +
              `${
                pathOf(root, stack, depth)
              } (the limit is ${MAX_JSON_DEPTH} levels, MAX_JSON_DEPTH)`,
          };
        }
        const frame = stack[depth];
        if (frame === undefined) stack.push({ node: value, keys, at: -1 });
        else {
          frame.node = value;
          frame.keys = keys;
          frame.at = -1;
        }
        depth++;
        break;
      }
      default:
        return bad(`is ${describe(value)}, which is not a JSON value`);
    }
    // Every value is at least one byte of JSON: this many cannot fit.
    if (++count > limit) {
      const repeat = firstRepeat(stack, depth, undefined);
      if (repeat >= 0) return bad("refers back to itself (a cycle)", repeat);
      return {
        error: RangeError,
        message: `${root} is more than ${limit} bytes of JSON (it holds more than ${limit} ` +
          `values), over the limit of ${limit} bytes (the maxPayloadBytes option)`,
      };
    }
    // Move to the next child, leaving the containers that are done.
    for (;;) {
      if (depth === 0) return undefined;
      const frame = stack[depth - 1];
      const at = ++frame.at;
      if (frame.keys === undefined) {
        const array = frame.node as unknown[];
        if (at < array.length) {
          if (!(at in array)) return bad("is an empty array slot");
          value = array[at];
          break;
        }
      } else if (at < frame.keys.length) {
        const key = frame.keys[at];
        if (!key.isWellFormed()) {
          return bad(
            `has the key ${quote(key)}, which is not well-formed Unicode (${loneSurrogate(key)})`,
            depth - 1,
          );
        }
        value = (frame.node as Record<string, unknown>)[key];
        break;
      }
      depth--;
    }
  }
}

/**
 * Serializes `value` as JSON, refusing anything that would not come back
 * unchanged: a `TypeError` names the offending path (a value JSON cannot
 * hold, a cycle, a string or key that is not well-formed Unicode), a
 * `RangeError` is for nesting deeper than {@linkcode MAX_JSON_DEPTH} and for
 * text over `maxBytes` UTF-8 bytes. `context` (or the function making it,
 * called only on error) starts the message.
 */
export function toJson(
  value: unknown,
  path: string,
  context: string | (() => string),
  maxBytes: number,
): string {
  const bad = check(value, path, maxBytes);
  if (bad !== undefined) {
    const where = typeof context === "function" ? context() : context;
    throw new bad.error(
      `${where}: ${bad.message}${bad.error === TypeError ? ` (${ALLOWED})` : ""}`,
    );
  }
  const text = JSON.stringify(value);
  if (text.length * 3 > maxBytes) {
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > maxBytes) {
      throw new RangeError(
        `${typeof context === "function" ? context() : context}: ${path} is ${bytes} bytes ` +
          `of JSON, over the limit of ${maxBytes} bytes (the maxPayloadBytes option)`,
      );
    }
  }
  return text;
}

/** Parses stored JSON; SQL NULL reads as `null`. */
export function fromJson(text: unknown): JsonValue {
  return typeof text === "string" ? JSON.parse(text) as JsonValue : null;
}

/** The default limit on a JSON payload (params or result): 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;
