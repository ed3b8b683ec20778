/**
 * OpenTelemetry: a subprocess with Deno's built-in OpenTelemetry on
 * (`OTEL_DENO=true`) exports OTLP/HTTP JSON to a receiver on loopback; the
 * spans of its submits and attempts, their links and attributes, and the
 * metrics are checked here. Also: the option's checks, and nothing stored
 * or loaded with telemetry off.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { JobQueue, task, Worker, WorkerPool } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { driverTest } from "./_helpers.ts";

/** An OTLP attribute value as the JSON encoding carries it. */
type AnyValue = {
  stringValue?: string;
  intValue?: string;
  doubleValue?: number;
  boolValue?: boolean;
};
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: KeyValue[];
  links: { traceId: string; spanId: string }[];
  status: { code?: number; message?: string };
}
interface OtlpMetric {
  name: string;
  sum?: { dataPoints: { attributes: KeyValue[]; asDouble?: number; asInt?: string }[] };
  gauge?: { dataPoints: { attributes: KeyValue[]; asDouble?: number; asInt?: string }[] };
  histogram?: { dataPoints: { attributes: KeyValue[]; count: string | number }[] };
}

const SPAN_KIND_PRODUCER = 4;
const SPAN_KIND_CONSUMER = 5;
const STATUS_ERROR = 2;

/** A tiny OTLP/HTTP JSON receiver: POST /v1/traces and /v1/metrics bodies kept; GET /seen. */
function receiver() {
  const spans: OtlpSpan[] = [];
  const metrics: OtlpMetric[] = [];
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/seen") {
      return Response.json([...new Set(metrics.map((m) => m.name))]);
    }
    paths.push(`${req.method} ${path} ${req.headers.get("content-type")}`);
    const body = await req.json();
    if (path === "/v1/traces") {
      for (const rs of body.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) spans.push(...ss.spans);
      }
    } else if (path === "/v1/metrics") {
      for (const rm of body.resourceMetrics ?? []) {
        for (const sm of rm.scopeMetrics ?? []) {
          if (sm.scope?.name === "gigq") metrics.push(...sm.metrics);
        }
      }
    }
    return Response.json({});
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, spans, metrics, paths, server };
}

const attr = (kvs: KeyValue[], key: string): string | number | boolean | undefined => {
  const v = kvs.find((kv) => kv.key === key)?.value;
  if (v === undefined) return undefined;
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.doubleValue ?? v.boolValue;
};
/** The trace_context column of job `id` in SQLite file `path`. */
function storedContext(path: string, id: string): string {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT trace_context FROM gigq_jobs WHERE id = ?").get(id)!
      .trace_context as string;
  } finally {
    db.close();
  }
}

const point = (p: { asDouble?: number; asInt?: string }) => p.asDouble ?? Number(p.asInt);

backendTest(
  "with OTEL_DENO=true, submits and attempts export linked spans with their attributes, and metrics",
  async ({ target, driver }) => {
    const rx = receiver();
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./_otel_child.ts", import.meta.url).pathname,
          target,
          driver ?? "-",
          rx.url,
        ],
        env: {
          OTEL_DENO: "true",
          OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_SERVICE_NAME: "gigq-test",
          OTEL_BSP_SCHEDULE_DELAY: "100",
          OTEL_METRIC_EXPORT_INTERVAL: "200",
          NO_COLOR: "1",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      const { ids, parent } = JSON.parse(dec.decode(out.stdout).trim().split("\n").at(-1)!) as {
        ids: Record<string, string>;
        parent: { traceId: string; spanId: string };
      };
      assert.ok(
        rx.paths.some((p) => p.startsWith("POST /v1/traces application/json")),
        rx.paths.join(),
      );

      const submits = rx.spans.filter((s) => s.name === "gigq.submit");
      const attempts = rx.spans.filter((s) => s.name === "gigq.attempt");
      // ok, bad, flaky, the submitMany, waiting, root: one span per call (none for unlinked,
      // submitted through a queue with telemetry off).
      assert.equal(submits.length, 6);
      const submitOf = (id: string) =>
        submits.find((s) => attr(s.attributes, "gigq.job.id") === id);
      assert.equal(submitOf(ids.unlinked), undefined);
      for (const name of ["ok", "bad", "flaky", "waiting"]) {
        const s = submitOf(ids[name]);
        assert.ok(s, `a gigq.submit span for ${name}`);
        assert.equal(s.kind, SPAN_KIND_PRODUCER);
        // Inside the application's span: its child, in its trace.
        assert.equal(s.traceId, parent.traceId);
        assert.equal(s.parentSpanId, parent.spanId);
        assert.equal(attr(s.attributes, "gigq.job.count"), 1);
      }
      assert.equal(attr(submitOf(ids.ok)!.attributes, "gigq.job.task"), "ok");
      assert.equal(attr(submitOf(ids.ok)!.attributes, "gigq.queue"), "default");
      assert.equal(attr(submitOf(ids.waiting)!.attributes, "gigq.queue"), "waiting");
      const batch = submits.find((s) => attr(s.attributes, "gigq.job.count") === 2);
      assert.ok(batch, "one gigq.submit span for the submitMany call");
      assert.equal(attr(batch.attributes, "gigq.job.id"), undefined);
      assert.equal(attr(batch.attributes, "gigq.job.task"), "ok");
      const rootSubmit = submitOf(ids.root)!;
      assert.equal(rootSubmit.parentSpanId ?? "", "");
      assert.notEqual(rootSubmit.traceId, parent.traceId);

      const attemptsOf = (id: string) =>
        attempts.filter((s) => attr(s.attributes, "gigq.job.id") === id)
          .sort((a, b) =>
            Number(attr(a.attributes, "gigq.attempt")) - Number(attr(b.attributes, "gigq.attempt"))
          );
      const linkedTo = (a: OtlpSpan, s: OtlpSpan) => {
        assert.equal(a.kind, SPAN_KIND_CONSUMER);
        assert.deepEqual(a.links.map((l) => [l.traceId, l.spanId]), [[s.traceId, s.spanId]]);
        // A trace of its own (linked, not a child of the submit).
        assert.notEqual(a.traceId, s.traceId);
        assert.equal(a.parentSpanId ?? "", "");
      };
      const [okAttempt, ...okMore] = attemptsOf(ids.ok);
      assert.equal(okMore.length, 0);
      linkedTo(okAttempt, submitOf(ids.ok)!);
      assert.deepEqual(
        ["gigq.job.task", "gigq.queue", "gigq.attempt", "gigq.outcome"].map((k) =>
          attr(okAttempt.attributes, k)
        ),
        ["ok", "default", 1, "completed"],
      );
      assert.notEqual(okAttempt.status.code, STATUS_ERROR);
      // The handler's own span is the attempt's child.
      const work = rx.spans.filter((s) =>
        s.name === "handler-work" && s.traceId === okAttempt.traceId
      );
      assert.equal(work.length, 1);
      assert.equal(work[0].parentSpanId, okAttempt.spanId);

      const [badAttempt] = attemptsOf(ids.bad);
      linkedTo(badAttempt, submitOf(ids.bad)!);
      assert.equal(attr(badAttempt.attributes, "gigq.outcome"), "failed");
      assert.equal(badAttempt.status.code, STATUS_ERROR);
      assert.match(badAttempt.status.message ?? "", /bad on purpose/);

      const flakyAttempts = attemptsOf(ids.flaky);
      assert.deepEqual(
        flakyAttempts.map((
          a,
        ) => [attr(a.attributes, "gigq.attempt"), attr(a.attributes, "gigq.outcome")]),
        [[1, "retry"], [2, "completed"]],
      );
      for (const a of flakyAttempts) linkedTo(a, submitOf(ids.flaky)!);

      for (const name of ["many1", "many2"]) linkedTo(attemptsOf(ids[name])[0], batch);
      linkedTo(attemptsOf(ids.root)[0], rootSubmit);
      assert.equal(attemptsOf(ids.unlinked).length, 1);
      assert.deepEqual(attemptsOf(ids.unlinked)[0].links, []);
      assert.deepEqual(attemptsOf(ids.waiting), []);

      // Metrics: cumulative sums, so the last export holds the totals.
      const last = (name: string) => rx.metrics.filter((m) => m.name === name).at(-1);
      const sumOf = (name: string, task: string) =>
        last(name)?.sum?.dataPoints.filter((p) => attr(p.attributes, "gigq.job.task") === task)
          .reduce((n, p) => n + point(p), 0) ?? 0;
      assert.equal(sumOf("gigq.jobs.completed", "ok"), 5);
      assert.equal(sumOf("gigq.jobs.completed", "flaky"), 1);
      assert.equal(sumOf("gigq.jobs.failed", "bad"), 1);
      // The flaky job's first attempt was retried: not a failed job.
      assert.equal(sumOf("gigq.jobs.failed", "flaky"), 0);
      const durations = last("gigq.attempt.duration")?.histogram?.dataPoints ?? [];
      assert.equal(durations.reduce((n, p) => n + Number(p.count), 0), 8);
      const retried = durations.find((p) =>
        attr(p.attributes, "gigq.job.task") === "flaky" &&
        attr(p.attributes, "gigq.outcome") === "retry"
      );
      assert.equal(Number(retried?.count), 1);
      const depth = rx.metrics.filter((m) => m.name === "gigq.queue.depth")
        .flatMap((m) => m.gauge?.dataPoints ?? [])
        .filter((p) => attr(p.attributes, "gigq.queue") === "waiting");
      assert.ok(depth.length > 0, "a gigq.queue.depth point for the waiting queue");
      assert.equal(point(depth.at(-1)!), 1);

      // The trace context stored on the job is the submit span's (W3C traceparent).
      const okSubmit = submitOf(ids.ok)!;
      const stored = driver === undefined ? undefined : storedContext(target, ids.ok);
      if (stored !== undefined) {
        assert.deepEqual(JSON.parse(stored), {
          traceparent: `00-${okSubmit.traceId}-${okSubmit.spanId}-01`,
        });
      }
    } finally {
      await rx.server.shutdown();
    }
  },
);

driverTest(
  "a WorkerPool's Web Workers export their attempts' spans, linked",
  async ({ path, driver }) => {
    const rx = receiver();
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./_otel_pool_child.ts", import.meta.url).pathname,
          path,
          driver,
        ],
        env: {
          OTEL_DENO: "true",
          OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_BSP_SCHEDULE_DELAY: "100",
          NO_COLOR: "1",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      const { id } = JSON.parse(dec.decode(out.stdout).trim().split("\n").at(-1)!);
      const of = (name: string) =>
        rx.spans.filter((s) => s.name === name && attr(s.attributes, "gigq.job.id") === id);
      const [submit] = of("gigq.submit");
      const attempts = of("gigq.attempt");
      assert.ok(submit, "the submit's span");
      assert.equal(attempts.length, 1);
      assert.deepEqual(attempts[0].links.map((l) => [l.traceId, l.spanId]), [[
        submit.traceId,
        submit.spanId,
      ]]);
      assert.equal(attr(attempts[0].attributes, "gigq.outcome"), "completed");
    } finally {
      await rx.server.shutdown();
    }
  },
);

driverTest(
  "with telemetry off, a job stores no trace context",
  async ({ path, driver }) => {
    const t = task("t", () => 1);
    const queue = new JobQueue(path, { driver, telemetry: false });
    const id = await t.submit(queue, {});
    await queue.submitMany([t.toJob({})]);
    const worker = new Worker(path, { driver, tasks: [t], telemetry: false, logger: () => {} });
    assert.equal(await worker.processOne(), true);
    worker.close();
    queue.close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      assert.deepEqual(
        db.prepare("SELECT id, trace_context FROM gigq_jobs ORDER BY seq").all().map((r) => [
          r.id,
          r.trace_context,
        ]).slice(0, 1),
        [[id, null]],
      );
      assert.deepEqual(
        {
          ...db.prepare("SELECT count(*) AS n FROM gigq_jobs WHERE trace_context IS NOT NULL")
            .get(),
        },
        { n: 0 },
      );
    } finally {
      db.close();
    }
  },
);

driverTest(
  "with telemetry on but no tracer provider, submits store no trace context and jobs still run",
  async ({ path, driver }) => {
    // This test process has no OTEL_DENO: @opentelemetry/api's no-op tracer records nothing.
    const t = task("t", () => 7);
    const queue = new JobQueue(path, { driver, telemetry: true });
    const id = await t.submit(queue, {});
    const worker = new Worker(path, { driver, tasks: [t], telemetry: true, logger: () => {} });
    assert.equal(await worker.processOne(), true);
    worker.close();
    assert.equal(await queue.getResult(id), 7);
    queue.close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      assert.deepEqual(
        db.prepare("SELECT trace_context FROM gigq_jobs").all().map((r) => ({ ...r })),
        [{
          trace_context: null,
        }],
      );
    } finally {
      db.close();
    }
  },
);

Deno.test("telemetry must be a boolean: JobQueue, Worker and WorkerPool name the bad value", () => {
  const t = task("t", () => 1);
  assert.throws(
    () => new JobQueue(":memory:", { telemetry: "yes" as unknown as boolean }),
    (e: Error) =>
      e instanceof TypeError &&
      e.message === "Cannot open queue: telemetry must be true or false (leave it out to follow " +
          'OTEL_DENO), got "yes"',
  );
  assert.throws(
    () => new Worker(":memory:", { tasks: [t], telemetry: 1 as unknown as boolean }),
    /^TypeError: Cannot create worker: telemetry must be true or false .*got 1$/,
  );
  assert.throws(
    () =>
      new WorkerPool("never-opened.db", {
        tasks: [new URL("./_tasks.ts", import.meta.url).href],
        telemetry: null as unknown as boolean,
      }),
    /^TypeError: Cannot create worker pool: telemetry must be true or false .*got null$/,
  );
});
