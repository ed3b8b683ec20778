/** `gigq migrate` and the library's `migrate()`, on every backend. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Job, JobQueue, migrate, type MigrateOptions, SchemaError } from "../../mod.ts";
import { backendTest, schemaExists, withPostgres } from "../_backends.ts";
import { cli, ok } from "./_cli.ts";

/** Whether the queue's storage exists at all (the file, or the schema). */
async function exists(backend: string, target: string): Promise<boolean> {
  if (backend !== "postgres") {
    try {
      await Deno.stat(target);
      return true;
    } catch {
      return false;
    }
  }
  return await schemaExists(target);
}

/** Runs the statements `--print` gave, as an operator would (psql, or the sqlite3 shell). */
async function runPrinted(backend: string, target: string, text: string): Promise<void> {
  if (backend !== "postgres") {
    const db = new DatabaseSync(target);
    try {
      db.exec(text);
    } finally {
      db.close();
    }
    return;
  }
  await withPostgres(target, async (sql) => {
    await sql.unsafe(text).simple();
  });
}

backendTest(
  "migrate --print shows what would run and creates nothing; those statements make a working queue",
  async ({ backend, target, driver }) => {
    const args = ["--db", target, ...(driver ? ["--driver", driver] : [])];
    const printed = await ok([...args, "migrate", "--print"]);
    assert.match(printed, /schema version 0 to 9/);
    assert.match(printed, /gigq_jobs/);
    assert.equal(await exists(backend, target), false, "a dry run creates nothing");
    await runPrinted(backend, target, printed);
    // The queue the printed statements made is one GigQ opens as current, without creating.
    const queue = new JobQueue(target, { ...(driver ? { driver } : {}), create: false });
    try {
      const id = await queue.submit(new Job({ name: "n", task: "t", params: { a: 1 } }));
      assert.equal((await queue.getStatus(id))?.status, "pending");
    } finally {
      queue.close();
    }
    const again = JSON.parse(await ok([...args, "migrate", "--print", "--json"]));
    assert.deepEqual([again.from, again.to, again.sql, again.applied], [9, 9, "", false]);
  },
);

backendTest(
  "migrate creates the queue once, then has nothing to do",
  async ({ target, driver }) => {
    const args = ["--db", target, ...(driver ? ["--driver", driver] : [])];
    const first = JSON.parse(await ok([...args, "migrate", "--json"]));
    assert.deepEqual([first.from, first.to, first.applied], [0, 9, true]);
    assert.match(first.sql, /gigq_jobs/);
    const second = await ok([...args, "migrate"]);
    assert.match(second, /is at schema version 9; nothing to do/);
    const stats = JSON.parse(await ok([...args, "stats", "--json"]));
    assert.equal(stats.total, 0);
  },
);

backendTest(
  "a queue written by a newer GigQ is refused by migrate, with or without --print",
  async ({ backend, target, driver }) => {
    await migrate(target, driver ? { driver } : {});
    if (backend === "postgres") {
      await withPostgres(
        target,
        (sql, schema) => sql.unsafe(`UPDATE "${schema}".gigq_schema SET version = 99`),
      );
    } else {
      const db = new DatabaseSync(target);
      db.exec("UPDATE gigq_schema SET version = 99");
      db.close();
    }
    for (const extra of [[], ["--print"]]) {
      const r = await cli([
        "--db",
        target,
        ...(driver ? ["--driver", driver] : []),
        "migrate",
        ...extra,
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /written by a newer GigQ \(schema version 99; this version understands up to 9\)/,
      );
    }
    await assert.rejects(
      migrate(target, { dryRun: true, ...(driver ? { driver } : {}) }),
      SchemaError,
    );
  },
);

Deno.test("migrate() refuses bad arguments, naming them", async () => {
  await assert.rejects(migrate("" as string), /db must be a non-empty string, got ""/);
  await assert.rejects(
    migrate("x.db", { dryRun: "yes" as unknown as boolean }),
    /dryRun must be a boolean, got "yes"/,
  );
  await assert.rejects(migrate("x.db", { print: true } as MigrateOptions), /print/);
});
