/**
 * The states a job moves through.
 *
 * ```
 * pending ──claim──▶ running ──return──▶ completed
 *    │  ▲               │
 *    │  └──retry────────┤ (throw or timeout, attempts left)
 *    │                  ├──throw, no attempts left──▶ failed
 *    │                  ├──timeout, no attempts left──▶ timeout
 *    │                  └──cancel──▶ cancelled
 *    └──cancel (or a dependency ended badly)──▶ cancelled
 * failed | timeout | cancelled ──requeue──▶ pending
 * ```
 *
 * @example Filter a listing by status
 * ```ts ignore
 * import { JobQueue, JobStatus } from "@gigq/gigq";
 * const queue = new JobQueue("jobs.db");
 * const failed = await queue.listJobs({ status: JobStatus.FAILED });
 * ```
 *
 * @module
 */

/**
 * Every job status, as a constant object (`JobStatus.PENDING === "pending"`).
 * The order is the order `stats()` and the CLI list them in.
 *
 * @example Compare a job's status
 * ```ts ignore
 * const job = await queue.getStatus(id);
 * if (job?.status === JobStatus.COMPLETED) console.log(job.result);
 * ```
 */
export const JobStatus = {
  /** Waiting to run: for a worker, for its start time, or for its dependencies. */
  PENDING: "pending",
  /** Claimed by a worker and running. */
  RUNNING: "running",
  /** Returned a value; terminal. */
  COMPLETED: "completed",
  /** Threw on its last attempt. */
  FAILED: "failed",
  /**
   * Cancelled (before it ran or while it ran: its worker aborts the
   * handler), directly or because a dependency ended badly.
   */
  CANCELLED: "cancelled",
  /** Ran past its timeout (or its worker vanished) on its last attempt. */
  TIMEOUT: "timeout",
} as const;

/** One of the {@linkcode JobStatus} values. */
export type JobStatus = typeof JobStatus[keyof typeof JobStatus];

/** Every status value, in {@linkcode JobStatus} order. */
export const JOB_STATUSES: readonly JobStatus[] = Object.values(JobStatus);

/**
 * Checks that `value` is a job status and returns it; throws a `RangeError`
 * naming the value and the allowed ones otherwise.
 *
 * @example Validate a status from user input
 * ```ts ignore
 * import { parseJobStatus } from "@gigq/gigq";
 * parseJobStatus("failed"); // "failed"
 * parseJobStatus("done"); // RangeError: Invalid status "done": allowed are pending, running, …
 * ```
 *
 * @param value the status to check, for example text from a command line
 */
export function parseJobStatus(value: unknown): JobStatus {
  if (typeof value === "string" && (JOB_STATUSES as readonly string[]).includes(value)) {
    return value as JobStatus;
  }
  throw new RangeError(
    `Invalid status ${describe(value)}: allowed are ${JOB_STATUSES.join(", ")}`,
  );
}

/**
 * The most characters of a value (an id, a name, a key) that an error
 * message repeats; longer values are cut, with a marker saying how long they
 * were.
 *
 * @example
 * ```ts
 * import { MAX_ECHO_CHARS } from "./job_status.ts";
 * MAX_ECHO_CHARS; // 200
 * ```
 */
export const MAX_ECHO_CHARS = 200;

/** The first `max` UTF-16 units of `text`, one fewer rather than half a surrogate pair. */
function head(text: string, max: number): string {
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/**
 * `text` quoted as JSON for an error message, cut after
 * {@linkcode MAX_ECHO_CHARS} characters with a marker naming its length.
 *
 * @example
 * ```ts
 * import { quote } from "./job_status.ts";
 * quote("abc"); // "\"abc\""
 * quote("x".repeat(1000)); // "\"xxx…xxx\"… [cut: 1000 characters in all]"
 * ```
 */
export function quote(text: string): string {
  if (text.length <= MAX_ECHO_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(head(text, MAX_ECHO_CHARS))}… [cut: ${text.length} characters in all]`;
}

/**
 * `text` (already written for a message, such as a key path) cut after
 * {@linkcode MAX_ECHO_CHARS} characters with a marker naming its length.
 *
 * @example
 * ```ts
 * import { clip } from "./job_status.ts";
 * clip("params.a"); // "params.a"
 * ```
 */
export function clip(text: string): string {
  return text.length <= MAX_ECHO_CHARS
    ? text
    : `${head(text, MAX_ECHO_CHARS)}… [cut: ${text.length} characters in all]`;
}

/**
 * A short, safe rendering of any value for an error message: strings are cut
 * after 80 characters, anything else after {@linkcode MAX_ECHO_CHARS}.
 *
 * @example
 * ```ts
 * import { describe } from "./job_status.ts";
 * describe(new Map()); // "a Map"
 * ```
 */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 80 ? head(value, 77) + "..." : value);
  }
  return clip(describeOther(value));
}

function describeOther(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (value instanceof Date) {
    return `Date(${isNaN(value.getTime()) ? "invalid" : value.toISOString()})`;
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value !== null && typeof value === "object") {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "an object";
  }
  return String(value);
}
