import assert from "node:assert/strict";
import { closeConnections, getConnection, JobQueue, SchemaError, SqliteError } from "../mod.ts";
import { SQL } from "../src/_sql.ts";
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
    assert.deepEqual(tables, ["executions", "job_deps", "jobs", "workers"]);
    assert.equal(MIGRATIONS.map((m) => m.version).join(), "1");
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
    const p = plan(path, driver, SQL.claimOrder, 10);
    assert.match(p, /USING INDEX jobs_ready/);
    assert.doesNotMatch(p, /TEMP B-TREE/);
    const claim = plan(path, driver, SQL.claim, "w", 0, 0, 10);
    assert.match(claim, /jobs_ready/);
    assert.doesNotMatch(claim, /TEMP B-TREE|SCAN jobs(?! USING)/);
    assert.match(plan(path, driver, SQL.promote, 0), /USING INDEX jobs_scheduled/);
    assert.match(plan(path, driver, SQL.expiredLeases, 0), /USING INDEX jobs_leases/);
    assert.match(
      plan(path, driver, SQL.listByStatus, "failed", 10),
      /USING (COVERING )?INDEX jobs_status/,
    );
    assert.doesNotMatch(plan(path, driver, SQL.listByStatus, "failed", 10), /TEMP B-TREE/);
    assert.match(plan(path, driver, SQL.releaseChildren, 1), /job_deps/);
    assert.match(plan(path, driver, SQL.parentResults, 1), /job_deps_child/);
    assert.match(plan(path, driver, SQL.cancelledBy, 1), /jobs_cancelled_by/);
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
          /newer GigQ \(schema version 99; this version understands up to 1\)/.test(e.message),
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
