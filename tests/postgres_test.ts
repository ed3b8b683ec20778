/**
 * What only the PostgreSQL backend has: URLs and schemas, migrations under
 * an advisory lock, the claim's plan, SKIP LOCKED claims by many clients,
 * the pool on a URL, the client registry. (The shared behaviour runs on
 * PostgreSQL through backendTest in the queue, worker and workflow tests.)
 */
import assert from "node:assert/strict";
import { closeConnections, JobQueue, SchemaError, task, Worker, WorkerPool } from "../mod.ts";
import { postgres } from "../postgres.ts";
import { statements } from "../src/postgres/_sql.ts";
import { postgresTest, withPostgres } from "./_backends.ts";
import { until } from "./_helpers.ts";
import { noop } from "./_tasks.ts";

const quiet = () => {};

Deno.test("a postgres:// URL names a schema (gigq unless told); .path hides the password", () => {
  // No server needed: nothing connects before the first operation.
  for (
    const [url, path] of [
      ["postgres://app:secret@db:5432/app", "postgres://app@db:5432/app?schema=gigq"],
      ["postgresql://db/app?schema=mail", "postgresql://db/app?schema=mail"],
      ["postgres://db/app?sslmode=disable&max=3", "postgres://db/app?sslmode=disable&schema=gigq"],
    ]
  ) {
    const queue = new JobQueue(url);
    assert.equal(queue.path, path);
    queue.close();
  }
});

Deno.test("a bad schema, a bad max or a SQLite option on a URL is refused, naming it", () => {
  const refused = (url: string, options: object, pattern: RegExp) =>
    assert.throws(() => new JobQueue(url, options), (e: Error) => {
      assert.ok(e instanceof RangeError, `${url}: ${e.name}: ${e.message}`);
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
  refused("postgres://u:secret@db/app?schema=Jobs", {}, /schema must be .* got "Jobs"/);
  refused("postgres://u:secret@db/app?schema=a-b", {}, /got "a-b"/);
  refused("postgres://u:secret@db/app?max=0", {}, /max must be .* 1 to 1000, got "0"/);
  refused("postgres://u:secret@db/app?max=2.5", {}, /got "2\.5"/);
  refused("postgres://u:secret@db/app", { driver: "ffi" }, /driver option applies to SQLite/);
  assert.throws(
    () => new WorkerPool("postgres://db/app?schema=9x", { tasks: ["./t.ts"] }),
    /got "9x"/,
  );
});

Deno.test("postgres() builds the URL a queue, worker or pool takes; bad input is refused", () => {
  assert.equal(
    postgres("postgres://db:5432/app", { schema: "mail", max: 4 }),
    "postgres://db:5432/app?schema=mail&max=4",
  );
  assert.equal(
    postgres("postgresql://u:pw@db/app?sslmode=require&schema=old", { schema: "new" }),
    "postgresql://u:pw@db/app?sslmode=require&schema=new",
  );
  assert.equal(postgres("postgres://db/app"), "postgres://db/app?schema=gigq");
  assert.throws(() => postgres("jobs.db"), (e: Error) => e instanceof TypeError);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => postgres("postgres://db/app", { schemas: "x" } as any),
    (e: Error) => e instanceof TypeError && e.message.includes('"schemas"'),
  );
  assert.throws(() => postgres("postgres://db/app", { max: 0 }), RangeError);
  assert.throws(() => postgres("postgres://db/app", { schema: "No" }), /got "No"/);
});

postgresTest(
  "ten clients opening a new schema at once migrate it once, to SQLite's version number",
  async ({ target }) => {
    // A different max per queue: ten clients, as ten processes would have.
    const queues = Array.from({ length: 10 }, (_, i) => new JobQueue(`${target}&max=${i + 1}`));
    const stats = await Promise.all(queues.map((q) => q.stats()));
    assert.deepEqual(stats.map((s) => s.total), Array(10).fill(0));
    await withPostgres(target, async (sql, schema) => {
      const [row] = await sql.unsafe(`SELECT version FROM "${schema}".gigq_schema`);
      assert.equal(row.version, 9);
      const tables = await sql.unsafe(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1
          ORDER BY table_name`,
        [schema],
      );
      assert.deepEqual(tables.map((t) => t.table_name), [
        "gigq_attempts",
        "gigq_executions",
        "gigq_job_deps",
        "gigq_jobs",
        "gigq_kv",
        "gigq_queue_starts",
        "gigq_queues",
        "gigq_schedule_runs",
        "gigq_schedules",
        "gigq_schema",
        "gigq_workers",
      ]);
    });
    for (const q of queues) q.close();
  },
);

postgresTest(
  "a schema written by a newer GigQ is refused with the versions named, and left as it is",
  async ({ target }) => {
    const queue = new JobQueue(target);
    await noop.submit(queue, {});
    queue.close();
    await withPostgres(
      target,
      (sql, schema) => sql.unsafe(`UPDATE "${schema}".gigq_schema SET version = 99`),
    );
    closeConnections();
    const again = new JobQueue(target);
    await assert.rejects(() => again.stats(), (e: Error) => {
      assert.ok(e instanceof SchemaError, `${e.name}: ${e.message}`);
      assert.equal(e.path, again.path);
      assert.match(e.message, /newer GigQ \(schema version 99; .* up to 9\); upgrade GigQ/);
      return true;
    });
    again.close();
    await withPostgres(target, async (sql, schema) => {
      const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM "${schema}".gigq_jobs`);
      assert.equal(row.n, 1);
    });
  },
);

postgresTest(
  "the claim reads each task's range of gigq_jobs_ready in claim order, without a sort",
  async ({ target }) => {
    const queue = new JobQueue(target);
    const other = task("other", () => 1);
    await queue.submitMany(
      Array.from(
        { length: 4000 },
        (_, i) => (i % 2 === 0 ? noop : other).toJob({}, { priority: i % 7 }),
      ),
    );
    await withPostgres(target, async (sql, schema) => {
      await sql.unsafe(`ANALYZE "${schema}".gigq_jobs`);
      const q = statements(schema);
      const plan = async (text: string, params: unknown[]) =>
        (await sql.unsafe(`EXPLAIN ${text}`, params as string[])).map((r) => r["QUERY PLAN"])
          .join("\n");
      const claim = ["w", 0, 1, 8, 0, "owner"];
      for (
        const [what, text, params] of [
          ["one task", q.claimOne, [...claim, "noop", null]],
          ["one task, named queues", q.claimOne, [...claim, "noop", ["default", "mail"]]],
          ["two tasks", q.claimMany, [...claim, ["noop", "other"], null]],
          ["the order", q.claimOrder, ["noop", 8]],
        ] as const
      ) {
        const p = await plan(text, [...params]);
        assert.match(p, /Index (Only )?Scan using gigq_jobs_ready/, `${what}:\n${p}`);
        assert.doesNotMatch(p, /Seq Scan on gigq_jobs\b/, `${what}:\n${p}`);
        // One range reads in claim order; merging several sorts only the few rows each gave.
        if (what === "the order") assert.doesNotMatch(p, /Sort/, `${what}:\n${p}`);
        // Each range is one (queue, task) prefix of the index, read under a LIMIT.
        assert.match(p, /Index Cond: \(\(queue = .*\) AND \(task = /, `${what}:\n${p}`);
        if (what !== "the order") assert.match(p, /Limit[\s\S]*Limit/, `${what}:\n${p}`);
      }
    });
    queue.close();
  },
);

postgresTest(
  "four workers on four clients claim with SKIP LOCKED: every job runs exactly once",
  async ({ target }) => {
    const queue = new JobQueue(target);
    await queue.submitMany(Array.from({ length: 400 }, (_, n) => noop.toJob({ n })));
    const workers = Array.from(
      { length: 4 },
      (_, i) =>
        new Worker(`${target}&max=${i + 2}`, {
          tasks: [noop],
          concurrency: 4,
          pollInterval: 0.05,
          logger: quiet,
        }),
    );
    const loops = workers.map((w) => w.start());
    await until(async () => (await queue.stats()).completed === 400, 1_000_000);
    for (const w of workers) w.stop();
    await Promise.all(loops);
    assert.equal(workers.reduce((n, w) => n + w.counts.completed, 0), 400);
    await withPostgres(target, async (sql, schema) => {
      const [row] = await sql.unsafe(
        `SELECT count(*)::int AS jobs, count(*) FILTER (WHERE runs <> 1)::int AS rerun,
          (SELECT count(*)::int FROM "${schema}".gigq_attempts) AS other_endings
        FROM "${schema}".gigq_jobs`,
      );
      assert.deepEqual({ ...row }, { jobs: 400, rerun: 0, other_endings: 0 });
    });
    for (const w of workers) w.close();
    queue.close();
  },
);

postgresTest(
  "a WorkerPool on a URL: each Web Worker opens its own client, jobs complete exactly once",
  async ({ target }) => {
    const queue = new JobQueue(target);
    await queue.submitMany(Array.from({ length: 200 }, (_, n) => noop.toJob({ n })));
    const pool = new WorkerPool(target, {
      tasks: [new URL("./_tasks.ts", import.meta.url)],
      workers: 2,
      concurrency: 4,
      pollInterval: 0.05,
      logger: quiet,
    });
    assert.equal(pool.path, queue.path);
    const done = pool.start();
    await until(async () => (await queue.stats()).completed === 200, 1_000_000);
    pool.stop();
    await done;
    assert.equal(pool.counts.completed, 200);
    await withPostgres(target, async (sql, schema) => {
      const [row] = await sql.unsafe(
        `SELECT count(*) FILTER (WHERE runs <> 1)::int AS rerun,
          (SELECT count(*)::int FROM "${schema}".gigq_workers WHERE stopped_at IS NULL) AS live
        FROM "${schema}".gigq_jobs`,
      );
      assert.deepEqual({ ...row }, { rerun: 0, live: 0 });
    });
    queue.close();
  },
);

postgresTest(
  "queue.transaction() is refused on PostgreSQL, naming it, and writes nothing",
  async ({ target }) => {
    const queue = new JobQueue(target);
    let ran = false;
    await assert.rejects(
      queue.transaction((tx) => {
        ran = true;
        return tx.submit(noop.toJob({}));
      }),
      (e: Error) => /nothing was written.*submitInTransaction/.test(e.message),
    );
    assert.equal(ran, false);
    assert.equal((await queue.stats()).total, 0);
    queue.close();
  },
);

postgresTest(
  "closeConnections() closes this isolate's PostgreSQL clients; a queue reconnects when next used",
  async ({ target }) => {
    const queue = new JobQueue(target);
    const id = await noop.submit(queue, { n: 1 });
    assert.ok(closeConnections() >= 1);
    assert.equal((await queue.getStatus(id))?.status, "pending");
    const worker = new Worker(target, { tasks: [noop], logger: quiet });
    assert.equal(await worker.processOne(), true);
    closeConnections();
    // A worker registers again on its new client, and runs on.
    const next = await noop.submit(queue, { n: 2 });
    assert.equal(await worker.processOne(), true);
    assert.equal(await queue.getResult(next), 2);
    worker.close();
    queue.close();
  },
);

/** Sessions holding (granted) or waiting for the shared idle lock of the queue in `schema`. */
async function idleLocks(
  sql: { unsafe: Parameters<Parameters<typeof withPostgres>[1]>[0]["unsafe"] },
  schema: string,
  granted: boolean,
): Promise<number> {
  const [row] = await sql.unsafe(
    `WITH k AS (SELECT hashtextextended('gigq idle ' || $1::text, 0) AS key)
    SELECT count(*)::int AS n FROM pg_locks, k WHERE locktype = 'advisory'
      AND mode = 'ShareLock' AND granted = $2::boolean AND objsubid = 1
      AND classid = ((k.key >> 32) & 4294967295)::oid AND objid = (k.key & 4294967295)::oid`,
    [schema, granted],
  );
  return row.n;
}

postgresTest(
  "a submit sends its NOTIFY only while some worker is idle, and that worker wakes for it",
  async ({ target }) => {
    const queue = new JobQueue(target);
    await queue.stats();
    await withPostgres(target, async (sql, schema) => {
      const heard: string[] = [];
      await sql.listen(`gigq.${schema}`, (payload) => heard.push(payload));
      // No worker anywhere: nobody could wait for a NOTIFY, so none is sent.
      const first = await noop.submit(queue, { n: 1 });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(heard, []);
      // An idle worker (whose poll is an hour away) holds the idle lock.
      const worker = new Worker(target, { tasks: [noop], pollInterval: 3600, logger: quiet });
      const done = worker.start();
      try {
        await until(async () => (await queue.getStatus(first))?.status === "completed");
        await until(async () => await idleLocks(sql, schema, true) > 0);
        // The worker is idle and local commits would wake it: submit from another client.
        const other = new JobQueue(`${target}&max=2`);
        const second = await noop.submit(other, { n: 2 });
        other.close();
        await until(() => heard.length > 0);
        assert.deepEqual(heard, ['["noop"]']);
        await until(async () => (await queue.getStatus(second))?.status === "completed");
      } finally {
        worker.stop();
        await done;
        worker.close();
      }
    });
    queue.close();
  },
);

postgresTest(
  "a worker going idle waits for a submit that is committing without a NOTIFY, then sees its job",
  async ({ target }) => {
    const queue = new JobQueue(target);
    await queue.stats();
    const worker = new Worker(target, { tasks: [noop], pollInterval: 3600, logger: quiet });
    let done: Promise<void> | undefined;
    const job = noop.toJob({ n: 3 });
    await withPostgres(target, async (sql, schema) => {
      await sql.begin(async (tx) => {
        // The submit's statement: with no idle worker it takes the idle lock and sends no NOTIFY.
        const now = Date.now();
        const [notified] = await tx.unsafe(statements(schema).insertReadyJob, [
          job.id,
          job.name,
          job.task,
          null,
          JSON.stringify(job.params),
          job.priority,
          job.maxAttempts,
          job.timeout,
          job.retryDelay,
          job.backoff,
          job.description,
          now,
          now,
          `gigq.${schema}`,
          '["noop"]',
          "default",
          86_400,
        ]);
        assert.equal(notified, undefined, "no NOTIFY while no worker is idle");
        // The worker finds nothing committed, goes idle, and waits for the lock.
        done = worker.start();
        await until(async () => await idleLocks(tx, schema, false) > 0);
        assert.equal(await queue.getStatus(job.id), undefined);
      });
    });
    try {
      // Committed without a NOTIFY, and the poll is an hour away: only the look the worker
      // makes once it holds the lock can find the job.
      await until(async () => (await queue.getStatus(job.id))?.status === "completed");
      assert.equal(await queue.getResult(job.id), 3);
    } finally {
      worker.stop();
      await done;
      worker.close();
      queue.close();
    }
  },
);
