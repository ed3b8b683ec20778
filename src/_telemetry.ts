/**
 * Whether OpenTelemetry is on, and the loading of the code that speaks to it
 * (`src/_otel.ts`, the only module that imports `npm:@opentelemetry/api`).
 * That module is imported by a name Deno cannot follow before it runs, so a
 * program with telemetry off never downloads or loads the npm package, and
 * its submits and attempts cost one check of a field left `undefined`.
 *
 * Telemetry is on for a {@linkcode JobQueue}, {@linkcode Worker} or
 * {@linkcode WorkerPool} given `telemetry: true`, and by default when the
 * environment has `OTEL_DENO=true` (Deno's built-in OpenTelemetry, which
 * registers the tracer and meter providers `@opentelemetry/api` finds). The
 * variable is read only where env access is already granted: never a prompt.
 *
 * Internal (not exported from `mod.ts`).
 *
 * @module
 */
import type { Claimed } from "./_backend.ts";
import type { Job } from "./job.ts";
import { describe } from "./job_status.ts";

/**
 * The OpenTelemetry module, imported by a name Deno cannot follow before it
 * runs: a literal `import("…")` of it would be resolved with the program and
 * download `@opentelemetry/api` for every user of the package.
 */
const OTEL_MODULE = new URL("./_otel.ts", import.meta.url).href;

/** How an attempt ended, as its span's `gigq.outcome` says. */
export type AttemptOutcome =
  | "completed"
  | "failed"
  | "retry"
  | "timeout"
  | "released"
  | "cancelled";

/** The span (and metrics) of one attempt, from its claim until its outcome is decided. */
export interface AttemptSpan {
  /** Calls `fn` (the handler) with this span active, so that the handler's spans are its children. */
  run<T>(fn: () => T): T;
  /** Ends the span with `outcome` (an error message for the ones that failed). */
  end(outcome: AttemptOutcome, error?: string): void;
}

/** What GigQ asks of OpenTelemetry (see `src/_otel.ts`). */
export interface Telemetry {
  /**
   * Runs `fn` inside a `gigq.submit` span for one submit call of `jobs`;
   * `fn` gets the span's W3C trace context to store on the jobs (undefined
   * when no span is recorded). A promise `fn` returns ends the span when it
   * settles.
   */
  submit<T>(jobs: readonly Job[], fn: (traceContext: string | undefined) => T): T;
  /** Starts the span of an attempt of `job` (linked to the trace context stored on it). */
  attempt(job: Claimed): AttemptSpan;
  /**
   * Reports the pending jobs of each queue (from `read`, called at most once
   * per `everyMs`) as the `gigq.queue.depth` gauge; returns what stops it.
   */
  depth(read: () => Promise<Iterable<readonly [string, number]>>, everyMs: number): () => void;
}

let cachedEnv: boolean | undefined;

/**
 * Whether the environment turns telemetry on: `OTEL_DENO` is `"true"` (or
 * `"1"`), read only when env access to it is granted (no prompt).
 */
export function telemetryFromEnv(): boolean {
  if (cachedEnv !== undefined) return cachedEnv;
  let value: string | undefined;
  try {
    if (Deno.permissions.querySync({ name: "env", variable: "OTEL_DENO" }).state === "granted") {
      value = Deno.env.get("OTEL_DENO");
    }
  } catch {
    value = undefined;
  }
  return cachedEnv = value === "true" || value === "1";
}

/** The `telemetry` option checked (a TypeError naming the bad value), or the environment's default. */
export function checkTelemetry(context: string, value: unknown): boolean {
  if (value === undefined) return telemetryFromEnv();
  if (typeof value !== "boolean") {
    throw new TypeError(
      `${context}: telemetry must be true or false (leave it out to follow OTEL_DENO), got ${
        describe(value)
      }`,
    );
  }
  return value;
}

let loaded: Telemetry | undefined;
let loading: Promise<Telemetry> | undefined;

/** The telemetry module once loaded, else undefined (for synchronous paths). */
export function loadedTelemetry(): Telemetry | undefined {
  return loaded;
}

/**
 * Loads the OpenTelemetry code (once per isolate). A failed load (the npm
 * package not downloaded, and no network) is tried again next time.
 */
export function loadTelemetry(): Promise<Telemetry> {
  if (loaded !== undefined) return Promise.resolve(loaded);
  return loading ??= (import(OTEL_MODULE) as Promise<typeof import("./_otel.ts")>).then(
    (mod) => loaded = mod.telemetry,
    (error) => {
      loading = undefined;
      throw new Error(
        `Cannot turn on telemetry: the npm package @opentelemetry/api@1 did not load: ${
          (error as Error)?.message ?? error
        }`,
        { cause: error },
      );
    },
  );
}
