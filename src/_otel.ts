/**
 * GigQ's spans and metrics, through `npm:@opentelemetry/api` (with Deno's
 * built-in OpenTelemetry, `OTEL_DENO=true`, its providers are Deno's and
 * export OTLP; without a provider every call is a no-op).
 *
 * - `gigq.submit` (PRODUCER): one span per submit call, `submitMany`
 *   included (one transaction, one operation; a batch of 10,000 jobs is not
 *   10,000 spans): `gigq.job.count`, and `gigq.job.id`, `gigq.job.task`,
 *   `gigq.queue` where every job of the call shares the value. Its W3C trace
 *   context is stored on each job it inserts.
 * - `gigq.attempt` (CONSUMER): one span per attempt, a root span linked to
 *   the stored submit context: `gigq.job.id`, `gigq.job.task`, `gigq.queue`,
 *   `gigq.attempt`, `gigq.outcome`, error status when it did not complete.
 *   The handler runs with it active, so the handler's own spans are its
 *   children.
 * - Metrics (meter `gigq`): counters `gigq.jobs.completed` and
 *   `gigq.jobs.failed` (a job's last attempt failed or timed out; retried
 *   attempts are not counted), attributes `gigq.job.task` and `gigq.queue`;
 *   histogram `gigq.attempt.duration` (s, with `gigq.outcome` too); gauge
 *   `gigq.queue.depth` (pending jobs, by `gigq.queue`).
 *
 * Loaded only on demand, by `src/_telemetry.ts`. Internal.
 *
 * @module
 */
import {
  type Attributes,
  context,
  createTraceState,
  isSpanContextValid,
  type Link,
  metrics,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "npm:@opentelemetry/api@1";
import type { Claimed } from "./_backend.ts";
import type { AttemptOutcome, AttemptSpan, Telemetry } from "./_telemetry.ts";
import type { Job } from "./job.ts";

const SCOPE = "gigq";
const tracer = trace.getTracer(SCOPE);
const meter = metrics.getMeter(SCOPE);

const completed = meter.createCounter("gigq.jobs.completed", {
  description: "Jobs whose attempt completed",
});
const failed = meter.createCounter("gigq.jobs.failed", {
  description: "Jobs whose last attempt failed or timed out (no retry left)",
});
const duration = meter.createHistogram("gigq.attempt.duration", {
  description: "How long attempts ran, from claim to outcome",
  unit: "s",
});
const depthGauge = meter.createObservableGauge("gigq.queue.depth", {
  description: "Pending jobs in each queue",
});

/** One source of queue depths (a worker's queues), read at most once per `everyMs`. */
interface DepthSource {
  read: () => Promise<Iterable<readonly [string, number]>>;
  everyMs: number;
  last: Map<string, number>;
  at: number;
  reading: boolean;
}

const sources = new Set<DepthSource>();

depthGauge.addCallback((result) => {
  const now = performance.now();
  const merged = new Map<string, number>();
  for (const s of sources) {
    for (const [queue, n] of s.last) merged.set(queue, n);
    if (!s.reading && now - s.at >= s.everyMs) refresh(s, now);
  }
  for (const [queue, n] of merged) result.observe(n, { "gigq.queue": queue });
});

/** Reads `s` again in the background (the next collection reports it). */
function refresh(s: DepthSource, now: number): void {
  s.reading = true;
  s.at = now;
  s.read().then(
    (rows) => {
      s.last = new Map(rows);
    },
    () => {}, // a failed read keeps the last values; the worker logs its own errors
  ).finally(() => s.reading = false);
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The stored trace context of a span (JSON of traceparent and tracestate), or undefined. */
function contextText(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  const carrier: Record<string, string> = {
    traceparent: `00-${sc.traceId}-${sc.spanId}-${
      (sc.traceFlags & 0xff).toString(16).padStart(2, "0")
    }`,
  };
  const state = sc.traceState?.serialize();
  if (state) carrier.tracestate = state;
  return JSON.stringify(carrier);
}

/** The link to a stored trace context; none for a missing or malformed one. */
function linkOf(text: string | null | undefined): Link[] {
  if (!text) return [];
  try {
    const carrier = JSON.parse(text) as { traceparent?: unknown; tracestate?: unknown };
    const m = typeof carrier.traceparent === "string" && TRACEPARENT.exec(carrier.traceparent);
    if (!m) return [];
    const sc = {
      traceId: m[1],
      spanId: m[2],
      traceFlags: parseInt(m[3], 16),
      isRemote: true,
      traceState: typeof carrier.tracestate === "string"
        ? createTraceState(carrier.tracestate)
        : undefined,
    };
    return isSpanContextValid(sc) ? [{ context: sc }] : [];
  } catch {
    return [];
  }
}

/** The value every job of `jobs` shares, or undefined. */
function shared(jobs: readonly Job[], of: (job: Job) => string): string | undefined {
  const first = of(jobs[0]);
  for (let i = 1; i < jobs.length; i++) if (of(jobs[i]) !== first) return undefined;
  return first;
}

function endWithError(span: Span, error: unknown): void {
  const message = (error as Error)?.message ?? String(error);
  span.recordException(error instanceof Error ? error : message);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end();
}

class Attempt implements AttemptSpan {
  #span: Span;
  #attrs: Attributes;
  #start = performance.now();

  constructor(job: Claimed) {
    this.#attrs = { "gigq.job.task": job.task, "gigq.queue": job.queue };
    this.#span = tracer.startSpan("gigq.attempt", {
      kind: SpanKind.CONSUMER,
      root: true,
      links: linkOf(job.traceContext),
      attributes: {
        "gigq.job.id": job.id,
        "gigq.job.task": job.task,
        "gigq.queue": job.queue,
        "gigq.attempt": job.attempt,
        "gigq.job.max_attempts": job.maxAttempts,
      },
    });
  }

  run<T>(fn: () => T): T {
    return context.with(trace.setSpan(ROOT_CONTEXT, this.#span), fn);
  }

  end(outcome: AttemptOutcome, error?: string): void {
    const span = this.#span;
    span.setAttribute("gigq.outcome", outcome);
    if (outcome !== "completed" && error !== undefined) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    }
    span.end();
    duration.record((performance.now() - this.#start) / 1000, {
      ...this.#attrs,
      "gigq.outcome": outcome,
    });
    if (outcome === "completed") completed.add(1, this.#attrs);
    else if (outcome === "failed" || outcome === "timeout") failed.add(1, this.#attrs);
  }
}

/** GigQ's telemetry through `@opentelemetry/api`. */
export const telemetry: Telemetry = {
  submit<T>(jobs: readonly Job[], fn: (traceContext: string | undefined) => T): T {
    const attributes: Attributes = { "gigq.job.count": jobs.length };
    if (jobs.length > 0) {
      if (jobs.length === 1) attributes["gigq.job.id"] = jobs[0].id;
      const task = shared(jobs, (j) => j.task);
      if (task !== undefined) attributes["gigq.job.task"] = task;
      const queue = shared(jobs, (j) => j.queue);
      if (queue !== undefined) attributes["gigq.queue"] = queue;
    }
    const span = tracer.startSpan("gigq.submit", { kind: SpanKind.PRODUCER, attributes });
    const traceContext = contextText(span);
    let value: T;
    try {
      value = context.with(trace.setSpan(context.active(), span), fn, undefined, traceContext);
    } catch (error) {
      endWithError(span, error);
      throw error;
    }
    if (value !== null && typeof (value as Promise<unknown>)?.then === "function") {
      return (value as Promise<unknown>).then(
        (v) => {
          span.end();
          return v;
        },
        (error) => {
          endWithError(span, error);
          throw error;
        },
      ) as T;
    }
    span.end();
    return value;
  },

  attempt(job: Claimed): AttemptSpan {
    return new Attempt(job);
  },

  depth(read, everyMs) {
    const source: DepthSource = { read, everyMs, last: new Map(), at: -Infinity, reading: false };
    sources.add(source);
    refresh(source, performance.now());
    return () => {
      sources.delete(source);
    };
  },
};
