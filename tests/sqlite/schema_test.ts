import assert from "node:assert/strict";
import {
  closeConnections,
  getConnection,
  JobQueue,
  SchemaError,
  SqliteError,
  task,
  Worker,
} from "../../mod.ts";
import {
  claimRangeParams,
  claimSql,
  countJobsSql,
  listJobsSql,
  SQL,
} from "../../src/sqlite/_sql.ts";
import { APPLICATION_ID, migrate, MIGRATIONS, SCHEMA_VERSION } from "../../src/sqlite/schema.ts";
import { dbHash, drivers, driverTest, tempDb } from "../_helpers.ts";

function plan(path: string, driver: "node" | "ffi", sql: string, ...params: (string | number)[]) {
  return getConnection(path, { driver }).prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params)
    .map((r) => String(r.detail)).join("\n");
}

driverTest(
  "a new file gets GigQ's tables and its version in gigq_schema; the file's own version is left alone",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await queue.stats();
    const conn = getConnection(path, { driver });
    assert.deepEqual(conn.prepare("PRAGMA user_version").values(), [[0]]);
    assert.deepEqual(conn.prepare("PRAGMA application_id").values(), [[0]]);
    assert.deepEqual(conn.prepare("SELECT version FROM gigq_schema").values(), [[SCHEMA_VERSION]]);
    const tables = conn.prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
    ).values().map((r) => r[0]);
    assert.deepEqual(tables, [
      "gigq_attempts",
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
    assert.equal(MIGRATIONS.map((m) => m.version).join(), "1,2,3,4,5,6,7,8,9");
    // Running the migrations again changes nothing.
    const before = await dbHash(path);
    migrate(conn);
    assert.equal(await dbHash(path), before);
    queue.close();
  },
);

driverTest(
  "the claim reads the ready index in ORDER BY order, without sorting",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await queue.stats();
    const p = plan(path, driver, SQL.claimOrder, 10, "t", "default");
    assert.match(p, /USING INDEX gigq_jobs_ready \(queue=\? AND task=\?\)/);
    assert.doesNotMatch(p, /TEMP B-TREE/);
    // One (queue, task) range, a few (merged ranges of the index, one per
    // pair), and many.
    for (const [queues, tasks] of [[["default"], ["a"]], [["default", "mail"], ["a", "b", "c"]]]) {
      const { params, ranges } = claimRangeParams(queues, tasks);
      for (const one of [true, false]) {
        const claim = plan(path, driver, claimSql(ranges, one), "w", 0, 0, 10, 0, "o", ...params);
        assert.equal(
          claim.match(/USING INDEX gigq_jobs_ready \(queue=\? AND task=\?\)/g)?.length,
          ranges,
        );
        assert.doesNotMatch(claim, /SCAN jobs(?! USING)/, claim);
        // One task reads its range in order; several sort only the few rows
        // each range gave (at most the limit each), never the backlog.
        if (ranges === 1) assert.doesNotMatch(claim, /TEMP B-TREE/, claim);
      }
    }
    const names = Array.from({ length: 100 }, (_, i) => `t${i}`);
    const wide = claimRangeParams(["default"], names);
    const many = plan(
      path,
      driver,
      claimSql(wide.ranges, false),
      "w",
      0,
      0,
      10,
      0,
      "o",
      ...wide.params,
    );
    assert.match(many, /USING INDEX gigq_jobs_ready \(queue=\? AND task=\?\)/);
    assert.doesNotMatch(many, /SCAN jobs(?! USING)/);
    assert.match(plan(path, driver, SQL.due, 0), /USING (COVERING )?INDEX gigq_jobs_scheduled/);
    assert.match(plan(path, driver, SQL.promote, 0), /USING INDEX gigq_jobs_scheduled/);
    assert.match(plan(path, driver, SQL.expiredLeases, 0), /USING INDEX gigq_jobs_leases/);
    const listPlan = (f: Parameters<typeof listJobsSql>[0]) => {
      const { sql, params } = listJobsSql(f, 10);
      return plan(path, driver, sql, ...params);
    };
    assert.match(listPlan({ status: "failed" }), /USING INDEX gigq_jobs_ended \(status=\?\)/);
    assert.doesNotMatch(listPlan({ status: "failed" }), /TEMP B-TREE/);
    assert.match(
      listPlan({ status: "cancelled", queue: "q", task: "t", search: "s", beforeSeq: 9 }),
      /USING INDEX gigq_jobs_ended \(status=\? AND seq<\?\)/,
    );
    assert.match(listPlan({ status: "running" }), /USING INDEX gigq_jobs_leases/);
    // Newest first by the table's own order: no sort, a cursor a range of it.
    for (const status of [undefined, "pending", "completed"]) {
      assert.doesNotMatch(listPlan({ status, queue: "q", task: "t", search: "s" }), /TEMP B-TREE/);
      assert.match(listPlan({ status, beforeSeq: 9 }), /INTEGER PRIMARY KEY \(rowid<\?\)/);
    }
    const count = countJobsSql({ status: "pending", queue: "q" }, 10);
    const countPlan = plan(path, driver, count.sql, ...count.params);
    assert.match(countPlan, /USING INDEX gigq_jobs_ready \(queue=\?\)/);
    assert.match(countPlan, /USING INDEX gigq_jobs_scheduled/);
    assert.match(countPlan, /USING INDEX gigq_jobs_blocked/);
    assert.doesNotMatch(countPlan, /SCAN gigq_jobs(?! USING)/);
    const failed = countJobsSql({ status: "timeout", task: "t" }, 10);
    assert.match(plan(path, driver, failed.sql, ...failed.params), /gigq_jobs_ended \(status=\?\)/);
    assert.match(plan(path, driver, SQL.runningByWorker), /USING INDEX gigq_jobs_leases/);
    assert.match(plan(path, driver, SQL.childIds, 1), /USING PRIMARY KEY \(parent=\?\)/);
    assert.doesNotMatch(plan(path, driver, SQL.statsOpen), /SCAN jobs(?! USING)/);
    assert.match(plan(path, driver, SQL.statsEnded), /USING (COVERING )?INDEX gigq_jobs_ended/);
    assert.match(
      String(
        getConnection(path, { driver }).prepare(
          "SELECT sql FROM sqlite_schema WHERE name = 'gigq_jobs_release_children'",
        ).values()[0]?.[0],
      ),
      /gigq_job_deps WHERE parent = new.seq/,
    );
    assert.match(plan(path, driver, SQL.parentResults, 1), /gigq_job_deps_child/);
    assert.match(plan(path, driver, SQL.cancelledBy, 1), /gigq_jobs_cancelled_by/);
    queue.close();
  },
);

driverTest(
  "a completed attempt is recorded on its job's row; the executions view shows each attempt once",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    let calls = 0;
    const flaky = task("flaky", () => {
      if (++calls === 1) throw new Error("first try");
      return "ok";
    });
    const id = await flaky.submit(queue, {});
    const worker = new Worker(path, { tasks: [flaky], driver, workerId: "w1", logger: () => {} });
    while (await worker.processOne()) { /* drain */ }
    const conn = getConnection(path, { driver });
    const seq = conn.prepare("SELECT seq FROM gigq_jobs WHERE id = ?").values(id)[0][0];
    assert.deepEqual(
      conn.prepare("SELECT run, status FROM gigq_attempts WHERE job = ?").values(seq),
      [[1, "failed"]],
      "only the attempt that did not complete has a row",
    );
    const view = conn.prepare(
      "SELECT run, attempt, worker_id, status FROM gigq_executions WHERE job = ? ORDER BY run",
    ).values(seq);
    assert.deepEqual(view, [[1, 1, "w1", "failed"], [2, 2, "w1", "completed"]]);
    const job = await queue.getStatus(id);
    assert.equal(job?.workerId, null, "the API shows a worker only while running");
    assert.deepEqual(
      job?.executions.map((e) => [e.run, e.attempt, e.workerId, e.status, e.error !== null]),
      [[1, 1, "w1", "failed", true], [2, 2, "w1", "completed", false]],
    );
    assert.equal(job?.executions[1].completedAt, job?.completedAt);
    worker.close();
    queue.close();
  },
);

driverTest(
  "a version 1 database is upgraded with its jobs, edges and attempts intact",
  async ({ path, driver }) => {
    const { DatabaseSync } = await import("node:sqlite");
    const raw = new DatabaseSync(path);
    raw.exec(`PRAGMA journal_mode = WAL; ${MIGRATIONS[0].sql}
      PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = 1;
      INSERT INTO jobs (id, name, task, params, priority, max_attempts, timeout, retry_delay,
        backoff, description, dependencies, status, attempts, runs, run_at, result,
        created_at, updated_at, completed_at)
        VALUES ('a', 'a', 't', '{}', 0, 3, 300, 0, 'fixed', '', '[]', 'completed', 1, 1, 5,
          '42', 5, 6, 6);
      INSERT INTO jobs (id, name, task, params, priority, max_attempts, timeout, retry_delay,
        backoff, description, dependencies, status, run_at, parents_left, created_at, updated_at)
        VALUES ('b', 'b', 't', '{}', 0, 3, 300, 0, 'fixed', '', '["a"]', 'pending', 5, 0, 5, 6);
      INSERT INTO job_deps VALUES (1, 2, 0);
      INSERT INTO executions VALUES (1, 1, 1, 'w', 'completed', 5, 6, NULL);`);
    const dump = (db: { prepare(sql: string): { all(): unknown[] } }, prefix: string) =>
      ["jobs", "job_deps", "executions"].map((t) =>
        JSON.stringify(db.prepare(`SELECT * FROM ${prefix}${t} ORDER BY 1, 2`).all())
      );
    const before = dump(raw, "");
    raw.close();
    const queue = new JobQueue(path, { driver });
    assert.equal((await queue.getStatus("b"))?.status, "pending");
    const conn = getConnection(path, { driver });
    // The file's own version and id go back to the application; GigQ's is in its table.
    assert.deepEqual(conn.prepare("PRAGMA user_version").values(), [[0]]);
    assert.deepEqual(conn.prepare("PRAGMA application_id").values(), [[0]]);
    assert.deepEqual(conn.prepare("SELECT version FROM gigq_schema").values(), [[SCHEMA_VERSION]]);
    // Later versions add columns (NULL for old rows): compare what version 1 had.
    const after = dump(conn, "gigq_").map((t) =>
      JSON.stringify(
        JSON.parse(t).map((r: Record<string, unknown>) => {
          const {
            lease_owner: _,
            queue: _queue,
            unique_key: _key,
            progress: _progress,
            max_retry_delay: _cap,
            concurrency_key: _ck,
            trace_context: _tc,
            ...rest
          } = r;
          if ("concurrency_key" in r) assert.equal(_ck, null);
          // Version 9's trace context: none for a job submitted before it.
          if ("trace_context" in r) assert.equal(_tc, null);
          // Version 6 put every old job in the default queue, uncapped as before.
          if ("queue" in r) assert.deepEqual([_queue, _cap], ["default", 86_400]);
          return rest;
        }),
      )
    );
    assert.deepEqual(after, before, "no row lost, none cascaded away");
    assert.deepEqual(conn.prepare("PRAGMA foreign_keys").values(), [[1]]);
    const indexes = conn.prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'gigq_jobs' ORDER BY name",
    ).values().map((r) => r[0]);
    assert.deepEqual(indexes, [
      "gigq_jobs_blocked",
      "gigq_jobs_cancelled_by",
      "gigq_jobs_ended",
      "gigq_jobs_keyed",
      "gigq_jobs_leases",
      "gigq_jobs_ready",
      "gigq_jobs_scheduled",
      "gigq_jobs_unique",
      "sqlite_autoindex_gigq_jobs_1",
    ]);
    // Nothing is left under a name without the prefix.
    assert.deepEqual(
      conn.prepare(
        "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'gigq\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_autoindex\\_gigq\\_%' ESCAPE '\\'",
      ).values(),
      [],
    );
    assert.throws(
      () => conn.exec("UPDATE gigq_jobs SET status = 'done' WHERE id = 'a'"),
      /CHECK constraint failed/,
    );
    assert.deepEqual(conn.prepare("PRAGMA integrity_check").values(), [["ok"]]);
    queue.close();
  },
);

for (const driver of drivers) {
  Deno.test(`[${driver}] a database written by a newer schema is refused, unchanged`, async () => {
    const db = await tempDb();
    try {
      const { DatabaseSync } = await import("node:sqlite");
      const raw = new DatabaseSync(db.path);
      raw.exec(`PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = 99;
        CREATE TABLE jobs (x);`);
      raw.close();
      const before = await dbHash(db.path);
      assert.throws(
        () => new JobQueue(db.path, { driver }),
        (e: Error) =>
          e instanceof SchemaError &&
          new RegExp(
            `newer GigQ \\(schema version 99; this version understands up to ${SCHEMA_VERSION}\\)`,
          ).test(e.message),
      );
      assert.equal(await dbHash(db.path), before);
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] a file that is not SQLite, a directory and a missing directory fail clearly`, async () => {
    const db = await tempDb();
    try {
      const text = `${db.dir}/notes.txt`;
      await Deno.writeTextFile(text, "hello\n".repeat(200));
      const before = await dbHash(text);
      assert.throws(
        () => new JobQueue(text, { driver }),
        (e: Error) =>
          e instanceof SqliteError && /not a database/.test(e.message) && e.message.includes(text),
      );
      assert.equal(await dbHash(text), before);
      assert.throws(
        () => new JobQueue(db.dir, { driver }),
        (e: Error) => e instanceof SqliteError && e.message.includes(db.dir),
      );
      assert.throws(
        () => new JobQueue(`${db.dir}/no/such/dir/q.db`, { driver }),
        (e: Error) => e instanceof SqliteError && e.message.includes("no/such/dir"),
      );
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] paths with spaces and non-ASCII characters work`, async () => {
    const db = await tempDb();
    try {
      const path = `${db.dir}/my queue ✓ é.db`;
      const queue = new JobQueue(path, { driver });
      await queue.stats();
      assert.equal((await Deno.stat(path)).isFile, true);
      queue.close();
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });
}

driverTest(
  "a queue inside an application's database: 1,000 jobs run and the application's tables, rows, user_version and application_id stay byte for byte",
  async ({ path, driver }) => {
    const { DatabaseSync } = await import("node:sqlite");
    const raw = new DatabaseSync(path);
    raw.exec(`PRAGMA journal_mode = WAL;
      CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT);  -- the application's own "jobs"
      CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
      CREATE INDEX customers_name ON customers (name);
      CREATE VIEW workers AS SELECT name FROM customers;
      INSERT INTO jobs (title) VALUES ('plumber'), ('baker');
      INSERT INTO customers (name) VALUES ('Ada'), ('Grace');
      PRAGMA user_version = 7; PRAGMA application_id = 1234567;`);
    const appDump = (db: { prepare(sql: string): { all(): unknown[] } }) =>
      JSON.stringify([
        db.prepare(
          "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'gigq%' AND name NOT LIKE 'sqlite_autoindex_gigq%' ORDER BY name",
        ).all(),
        db.prepare("SELECT * FROM jobs ORDER BY id").all(),
        db.prepare("SELECT * FROM customers ORDER BY id").all(),
        db.prepare("PRAGMA user_version").all(),
        db.prepare("PRAGMA application_id").all(),
      ]);
    const before = appDump(raw);
    raw.close();

    const echo = task("echo", (p: number) => p * 2);
    const queue = new JobQueue(path, { driver });
    const ids = await queue.submitMany(
      Array.from({ length: 1000 }, (_, i) => echo.toJob(i)),
    );
    const worker = new Worker(path, { tasks: [echo], driver, concurrency: 50, logger: () => {} });
    while (await worker.processOne()) { /* drain */ }
    const stats = await queue.stats();
    assert.equal(stats.completed, 1000);
    assert.equal(await queue.getResult(ids[999]), 1998);
    worker.close();
    queue.close();
    closeConnections();

    const after = new DatabaseSync(path);
    assert.equal(appDump(after), before);
    after.close();
  },
);

driverTest(
  "a schema 3 file written by the previous release is upgraded in place: every row kept, its pending jobs then run",
  async ({ path, driver }) => {
    await Deno.copyFile(new URL("./fixtures/schema3.db", import.meta.url), path);
    const { DatabaseSync } = await import("node:sqlite");
    const dump = (db: { prepare(sql: string): { all(): unknown[] } }, prefix: string) =>
      ["jobs", "job_deps", "attempts", "workers"].map((t) =>
        JSON.stringify(
          db.prepare(`SELECT * FROM ${prefix}${t} ORDER BY 1, 2`).all().map((r) => {
            // Columns of later versions: the defaults of jobs (and workers) from before them.
            const {
              lease_owner: _,
              queue = "default",
              unique_key = null,
              progress = null,
              max_retry_delay = 86_400,
              queues = null,
              concurrency_key = null,
              trace_context = null,
              ...rest
            } = r as Record<string, unknown>;
            assert.deepEqual([
              queue,
              unique_key,
              progress,
              max_retry_delay,
              queues,
              concurrency_key,
              trace_context,
            ], [
              "default",
              null,
              null,
              86_400,
              null,
              null,
              null,
            ]);
            return rest;
          }),
        )
      );
    const raw = new DatabaseSync(path, { readOnly: true });
    assert.equal(raw.prepare("PRAGMA user_version").get()?.user_version, 3);
    const before = dump(raw, "");
    raw.close();
    const queue = new JobQueue(path, { driver });
    const ids = {
      "a": "01a2331b-713a-7771-b56f-5f334893ed28",
      "f": "01a2331b-7146-7632-8411-2f40b69176ba",
      "b": "01a2331b-7146-7c3a-af46-c6fb4bb2ed52",
      "parent": "01a2331b-7147-7de0-9862-261312adbaa9",
      "child": "01a2331b-7147-7bd7-be82-448c4a3413d6",
      "orphan": "01a2331b-7147-7b63-9e1c-df7686343e13",
      "p1": "01a2331b-714b-78bf-9be1-e5d19e3922f1",
      "p2": "01a2331b-714b-7c4a-a90e-0afe7cdd1f22",
      "c": "01a2331b-714b-780b-a93b-b43328726343",
    };
    const status = async (id: string) => (await queue.getStatus(id))?.status;
    assert.equal(await status(ids.a), "completed");
    assert.deepEqual(await queue.getResult(ids.a), { doubled: 2 });
    assert.equal(await status(ids.b), "failed");
    assert.match((await queue.getStatus(ids.b))!.error!, /always/);
    assert.equal(await status(ids.orphan), "cancelled");
    assert.equal((await queue.getStatus(ids.orphan))?.cancelledBy, ids.b);
    assert.deepEqual((await queue.getStatus(ids.child))?.dependencies, [ids.parent]);
    const flaky = await queue.getStatus(ids.f);
    assert.equal(flaky?.status, "pending");
    assert.deepEqual(flaky?.executions.map((e) => e.status), ["failed"]);
    closeConnections();
    const conn = new DatabaseSync(path, { readOnly: true });
    assert.deepEqual(dump(conn, "gigq_"), before, "every row of every table kept");
    conn.close();

    const reopened = new JobQueue(path, { driver });
    const ok = task("ok", (p: { n: number }) => ({ doubled: p.n * 2 }));
    const flakyTask = task("flaky", () => "second");
    const later = task("later", () => "later");
    const worker = new Worker(path, { tasks: [ok, flakyTask, later], driver, logger: () => {} });
    while (await worker.processOne()) { /* drain */ }
    for (const id of [ids.f, ids.p1, ids.p2]) {
      assert.equal((await reopened.getStatus(id))?.status, "completed", id);
    }
    assert.deepEqual(await reopened.getResult(ids.p1), { doubled: 200 });
    assert.equal((await reopened.stats()).pending, 0);
    worker.close();
    reopened.close();
  },
);
