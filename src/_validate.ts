/** Argument checks shared by jobs, tasks, queues and workers. */
import { describe } from "./job_status.ts";

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

/** A Date, an ISO 8601 string or epoch milliseconds, as epoch milliseconds. */
export function instant(context: string, field: string, value: unknown): number {
  let ms = NaN;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value)) ms = Date.parse(value);
  else if (typeof value === "number") ms = value;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
    throw new (value instanceof Date || typeof value === "string" || typeof value === "number"
      ? RangeError
      : TypeError)(
      `${context}: ${field} must be a valid Date, ISO 8601 string or epoch milliseconds, ` +
        `got ${describe(value)}`,
    );
  }
  return Math.round(ms);
}

/** Throws if `options` has keys outside `known`, naming them. */
export function knownKeys(context: string, options: object, known: readonly string[]): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${context}: options must be an object, got ${describe(options)}`);
  }
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new TypeError(
      `${context}: unknown option${unknown.length > 1 ? "s" : ""} ${
        unknown.map((k) => JSON.stringify(k)).join(", ")
      }; allowed: ${known.join(", ")}`,
    );
  }
}
