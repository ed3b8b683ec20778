import assert from "node:assert/strict";
import {
  closeConnections,
  getConnection,
  JobQueue,
  SchemaError,
  SqliteError,
  task,
  Worker,
} from "../mod.ts";
import { claimSql, claimTaskParams, SQL } from "../src/_sql.ts";
import { APPLICATION_ID, migrate, MIGRATIONS, SCHEMA_VERSION } from "../src/schema.ts";
import { dbHash, drivers, driverTest, tempDb } from "./_helpers.ts";

function plan(path: string, driver: "node" | "ffi", sql: string, ...params: (string | number)[]) {
  return getConnection(path, { driver }).prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params)
    .map((r) => String(r.detail)).join("\n");
}

driverTest(
  "a new file gets the schema, its version and GigQ's application id",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await queue.stats();
    const conn = getConnection(path, { driver });
    assert.deepEqual(conn.prepare("PRAGMA user_version").values(), [[SCHEMA_VERSION]]);
    assert.deepEqual(conn.prepare("PRAGMA application_id").values(), [[APPLICATION_ID]]);
    const tables = conn.prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
    ).values().map((r) => r[0]);
    assert.deepEqual(tables, ["attempts", "job_deps", "jobs", "workers"]);
    assert.equal(MIGRATIONS.map((m) => m.version).join(), "1,2,3,4");
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
    const p = plan(path, driver, SQL.claimOrder, 10, "t");
    assert.match(p, /USING INDEX jobs_ready \(task=\?\)/);
    assert.doesNotMatch(p, /TEMP B-TREE/);
    // One task, a few (merged ranges of the index, one per task), and many.
    for (const tasks of [["a"], ["a", "b", "c"]]) {
      for (const one of [true, false]) {
        const claim = plan(
          path,
          driver,
          claimSql(tasks.length, one),
          "w",
          0,
          0,
          10,
          0,
          "o",
          ...claimTaskParams(tasks),
        );
        assert.equal(claim.match(/USING INDEX jobs_ready \(task=\?\)/g)?.length, tasks.length);
        assert.doesNotMatch(claim, /SCAN jobs(?! USING)/, claim);
        // One task reads its range in order; several sort only the few rows
        // each range gave (at most the limit each), never the backlog.
        if (tasks.length === 1) assert.doesNotMatch(claim, /TEMP B-TREE/, claim);
      }
    }
    const names = Array.from({ length: 100 }, (_, i) => `t${i}`);
    const many = plan(
      path,
      driver,
      claimSql(100, false),
      "w",
      0,
      0,
      10,
      0,
      "o",
      ...claimTaskParams(names),
    );
    assert.match(many, /USING INDEX jobs_ready \(task=\?\)/);
    assert.doesNotMatch(many, /SCAN jobs(?! USING)/);
    assert.match(plan(path, driver, SQL.due, 0), /USING (COVERING )?INDEX jobs_scheduled/);
    assert.match(plan(path, driver, SQL.promote, 0), /USING INDEX jobs_scheduled/);
    assert.match(plan(path, driver, SQL.expiredLeases, 0), /USING INDEX jobs_leases/);
    assert.match(plan(path, driver, SQL.listEnded, "failed", 10), /USING INDEX jobs_ended/);
    assert.doesNotMatch(plan(path, driver, SQL.listEnded, "failed", 10), /TEMP B-TREE/);
    assert.match(plan(path, driver, SQL.listRunning, 10), /USING INDEX jobs_leases/);
    assert.doesNotMatch(plan(path, driver, SQL.statsOpen), /SCAN jobs(?! USING)/);
    assert.match(plan(path, driver, SQL.statsEnded), /USING (COVERING )?INDEX jobs_ended/);
    assert.match(plan(path, driver, SQL.releaseChildren, 1), /job_deps/);
    assert.match(plan(path, driver, SQL.parentResults, 1), /job_deps_child/);
    assert.match(plan(path, driver, SQL.cancelledBy, 1), /jobs_cancelled_by/);
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
    const seq = conn.prepare("SELECT seq FROM jobs WHERE id = ?").values(id)[0][0];
    assert.deepEqual(
      conn.prepare("SELECT run, status FROM attempts WHERE job = ?").values(seq),
      [[1, "failed"]],
      "only the attempt that did not complete has a row",
    );
    const view = conn.prepare(
      "SELECT run, attempt, worker_id, status FROM executions WHERE job = ? ORDER BY run",
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
    const dump = (db: { prepare(sql: string): { all(): unknown[] } }) =>
      ["jobs", "job_deps", "executions"].map((t) =>
        JSON.stringify(db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all())
      );
    const before = dump(raw);
    raw.close();
    const queue = new JobQueue(path, { driver });
    assert.equal((await queue.getStatus("b"))?.status, "pending");
    const conn = getConnection(path, { driver });
    assert.deepEqual(conn.prepare("PRAGMA user_version").values(), [[SCHEMA_VERSION]]);
    // Later versions add columns (NULL for old rows): compare what version 1 had.
    const after = dump(conn).map((t) =>
      JSON.stringify(
        JSON.parse(t).map((r: Record<string, unknown>) => {
          const { lease_owner: _, ...rest } = r;
          return rest;
        }),
      )
    );
    assert.deepEqual(after, before, "no row lost, none cascaded away");
    assert.deepEqual(conn.prepare("PRAGMA foreign_keys").values(), [[1]]);
    const indexes = conn.prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs' ORDER BY name",
    ).values().map((r) => r[0]);
    assert.deepEqual(indexes, [
      "jobs_blocked",
      "jobs_cancelled_by",
      "jobs_ended",
      "jobs_leases",
      "jobs_ready",
      "jobs_scheduled",
      "sqlite_autoindex_jobs_1",
    ]);
    assert.throws(
      () => conn.exec("UPDATE jobs SET status = 'done' WHERE id = 'a'"),
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
          /newer GigQ \(schema version 99; this version understands up to 4\)/.test(e.message),
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
