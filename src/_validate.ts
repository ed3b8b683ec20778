/** Argument checks shared by jobs, tasks, queues and workers. */
import { describe, quote } from "./job_status.ts";

/** Longest timeout a JavaScript timer can wait (2^31 - 1 ms), in seconds. */
export const MAX_TIMEOUT_SECONDS = 2_147_483;
/** Ten years, in seconds: the longest retry delay. */
export const MAX_RETRY_DELAY_SECONDS = 315_360_000;
/** Priorities are 32-bit signed integers. */
export const PRIORITY_RANGE = [-2_147_483_648, 2_147_483_647] as const;

export function integer(
  context: string,
  field: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new (typeof value === "number" ? RangeError : TypeError)(
      `${context}: ${field} must be a whole number from ${min} to ${max}, got ${describe(value)}`,
    );
  }
  return value;
}

export function seconds(
  context: string,
  field: string,
  value: unknown,
  { min, max, minExclusive }: { min: number; max: number; minExclusive: boolean },
): number {
  if (
    typeof value !== "number" || !Number.isFinite(value) || value > max ||
    (minExclusive ? value <= min : value < min)
  ) {
    throw new (typeof value === "number" ? RangeError : TypeError)(
      `${context}: ${field} must be a number of seconds ${minExclusive ? ">" : ">="} ${min} ` +
        `and <= ${max}, got ${describe(value)}`,
    );
  }
  return value;
}

export function text(
  context: string,
  field: string,
  value: unknown,
  { max, allowEmpty }: { max: number; allowEmpty: boolean },
): string {
  if (typeof value !== "string") {
    throw new TypeError(`${context}: ${field} must be a string, got ${describe(value)}`);
  }
  if (!allowEmpty && value.trim() === "") {
    throw new RangeError(`${context}: ${field} must not be empty, got ${describe(value)}`);
  }
  if (value.length > max) {
    throw new RangeError(
      `${context}: ${field} must be at most ${max} characters, got ${value.length}`,
    );
  }
  if (value.includes("\0")) {
    // SQLite's C API reads text up to the first NUL: node:sqlite would store
    // "a\0b" and read back "a" (a task name would no longer match its task).
    throw new RangeError(
      `${context}: ${field} must not contain a NUL character (\\u0000), got ${describe(value)}`,
    );
  }
  if (!value.isWellFormed()) {
    // It would be stored with U+FFFD in its place, and breaks JSON readers.
    throw new RangeError(
      `${context}: ${field} must be well-formed Unicode (it has a lone surrogate), got ${
        describe(value)
      }`,
    );
  }
  return value;
}

export function oneOf<T extends string>(
  context: string,
  field: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new (typeof value === "string" ? RangeError : TypeError)(
      `${context}: ${field} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, ` +
        `got ${describe(value)}`,
    );
  }
  return value as T;
}

/**
 * An ISO 8601 date (`2026-01-31`, midnight UTC) or date-time
 * (`2026-01-31T09:00`, local time, or with `Z` or an offset like `+01:00`;
 * seconds and fractions optional; a space may stand for the `T`).
 */
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|([+-])(\d{2}):?(\d{2}))?)?$/;

/**
 * Epoch milliseconds of an ISO 8601 string, or NaN with the reason when it
 * is not one or names a day or time that does not exist (`2026-02-30`,
 * `24:00`), which `Date.parse` would roll over into the next month or day.
 */
export function parseIsoTime(text: string): { ms: number; why?: string } {
  const m = ISO_TIME.exec(text);
  if (m === null) return { ms: NaN };
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  const no = (what: string) => ({ ms: NaN, why: `there is no ${what}` });
  if (month < 1 || month > 12) return no(`month ${m[2]}`);
  if (day < 1 || day > days) return no(`day ${m[3]} in ${m[1]}-${m[2]}`);
  if (m[4] !== undefined && Number(m[4]) > 23) return no(`hour ${m[4]}`);
  if (m[5] !== undefined && Number(m[5]) > 59) return no(`minute ${m[5]}`);
  if (m[6] !== undefined && Number(m[6]) > 59) return no(`second ${m[6]}`);
  if (m[7] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) {
    return no(`time zone offset ${m[7]}${m[8]}:${m[9]}`);
  }
  return { ms: Date.parse(text) };
}

/** A Date, an ISO 8601 string or epoch milliseconds, as epoch milliseconds. */
export function instant(context: string, field: string, value: unknown): number {
  let ms = NaN;
  let why: string | undefined;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === "string") ({ ms, why } = parseIsoTime(value));
  else if (typeof value === "number") ms = value;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
    throw new (value instanceof Date || typeof value === "string" || typeof value === "number"
      ? RangeError
      : TypeError)(
      `${context}: ${field} must be a valid Date, ISO 8601 string or epoch milliseconds, ` +
        `got ${describe(value)}${why === undefined ? "" : ` (${why})`}`,
    );
  }
  return Math.round(ms);
}

/** Throws if `options` has keys outside `known`, naming them (`context` may be made only then). */
export function knownKeys(
  context: string | (() => string),
  options: object,
  known: readonly string[],
): void {
  const where = () => typeof context === "string" ? context : context();
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where()}: options must be an object, got ${describe(options)}`);
  }
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new TypeError(
      `${where()}: unknown option${unknown.length > 1 ? "s" : ""} ${
        unknown.map((k) => quote(k)).join(", ")
      }; allowed: ${known.join(", ")}`,
    );
  }
}

/** The longest queue name. */
export const MAX_QUEUE_NAME = 128;

/**
 * A queue name: a string of 1 to 128 characters, not only spaces, without a
 * NUL. Anything else is a `TypeError` naming `field` (as the CLI's exit 2).
 */
export function queueName(context: string, field: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `${context}: ${field} must be a queue name (a string), got ${describe(value)}`,
    );
  }
  if (
    value.trim() === "" || value.length > MAX_QUEUE_NAME || value.includes("\0") ||
    !value.isWellFormed()
  ) {
    throw new TypeError(
      `${context}: ${field} must be a queue name of 1 to ${MAX_QUEUE_NAME} characters, not ` +
        `blank, without a NUL (\\u0000) or a lone surrogate, got ${
          value.length > 200 ? `a string of ${value.length} characters` : describe(value)
        }`,
    );
  }
  return value;
}

/** The longest unique key. */
export const MAX_UNIQUE_KEY = 1000;

/** A unique key: like a queue name, of 1 to 1,000 characters; a `TypeError` naming `field`. */
export function uniqueKey(context: string, field: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new TypeError(`${context}: ${field} must be a string, got ${describe(value)}`);
  }
  if (
    value === "" || value.length > MAX_UNIQUE_KEY || value.includes("\0") ||
    !value.isWellFormed()
  ) {
    throw new TypeError(
      `${context}: ${field} must be a string of 1 to ${MAX_UNIQUE_KEY} characters, without a ` +
        `NUL (\\u0000) or a lone surrogate, got ${
          value.length > 200 ? `a string of ${value.length} characters` : describe(value)
        }`,
    );
  }
  return value;
}
