/** Submitting inside the application's own PostgreSQL transaction. */
import assert from "node:assert/strict";
import postgresClient from "npm:postgres@3";
import { Job, JobQueue, Worker } from "../mod.ts";
import { submitInTransaction, submitManyInTransaction } from "../postgres.ts";
import { postgresTest, withPostgres } from "./_backends.ts";
import { driverTest } from "./_helpers.ts";
import { noop, sum } from "./_tasks.ts";

/** The application's own client (default settings: bigint columns come back as strings). */
function appClient(target: string) {
  return postgresClient(target.slice(0, target.indexOf("?")), { max: 2, onnotice: () => {} });
}

function schemaOf(target: string): string {
  return new URLSearchParams(target.slice(target.indexOf("?") + 1)).get("schema")!;
}

postgresTest(
  "a job submitted in the application's transaction commits with its rows",
  async ({ target }) => {
    const queue = new JobQueue(target);
    await queue.stats(); // the queue's schema exists
    const sql = appClient(target);
    const orders = `"${schemaOf(target)}".orders`;
    try {
      await sql.unsafe(`CREATE TABLE ${orders} (id int PRIMARY KEY)`);
      const id = await sql.begin(async (tx) => {
        await tx.unsafe(`INSERT INTO ${orders} VALUES (42)`);
        const jobId = await submitInTransaction(tx, queue, noop.toJob({ n: 42 }));
        // Not visible outside the transaction before it commits.
        assert.equal(await queue.getStatus(jobId), undefined);
        return jobId;
      });
      assert.equal((await queue.getStatus(id))?.status, "pending");
      assert.deepEqual([...await sql.unsafe(`SELECT id FROM ${orders}`)], [{ id: 42 }]);
      const worker = new Worker(target, { tasks: [noop] });
      assert.equal(await worker.processOne(), true);
      worker.close();
      assert.equal(await queue.getResult(id), 42);
    } finally {
      await sql.end({ timeout: 1 });
      queue.close();
    }
  },
);

postgresTest(
  "a rollback leaves neither the application's rows nor the jobs",
  async ({ target }) => {
    const queue = new JobQueue(target);
    await queue.stats();
    const sql = appClient(target);
    const orders = `"${schemaOf(target)}".orders`;
    let ids: string[] = [];
    try {
      await sql.unsafe(`CREATE TABLE ${orders} (id int PRIMARY KEY)`);
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx.unsafe(`INSERT INTO ${orders} VALUES (7)`);
          const a = noop.toJob({ n: 1 });
          const b = sum.toJob({}, { dependencies: [a] });
          ids = await submitManyInTransaction(tx, queue, [b, a]); // any order
          throw new Error("the order was refused");
        }),
        /the order was refused/,
      );
      assert.equal(ids.length, 2);
      for (const id of ids) assert.equal(await queue.getStatus(id), undefined);
      assert.equal((await queue.stats()).total, 0);
      assert.deepEqual([...await sql.unsafe(`SELECT id FROM ${orders}`)], []);
    } finally {
      await sql.end({ timeout: 1 });
      queue.close();
    }
  },
);

postgresTest(
  "a workflow in a transaction keeps its edges, and a dependency on a failed job cascades, with the client's string bigints",
  async ({ target }) => {
    const queue = new JobQueue(target);
    const failed = new Job({ name: "f", task: "boom", params: {}, maxAttempts: 1 });
    await queue.submit(failed);
    await withPostgres(target, (sql, schema) =>
      sql.unsafe(
        `UPDATE "${schema}".gigq_jobs SET status = 'failed', error = 'x', completed_at = 1 WHERE id = $1`,
        [failed.id],
      ));
    const sql = appClient(target);
    try {
      const a = noop.toJob({ n: 2 });
      const b = sum.toJob({}, { dependencies: [a] });
      const c = noop.toJob({}, { dependencies: [failed.id] });
      const ids = await sql.begin((tx) => submitManyInTransaction(tx, queue, [a, b, c]));
      assert.deepEqual(ids, [a.id, b.id, c.id]);
      const child = await queue.getStatus(b.id);
      assert.equal(child?.status, "pending");
      assert.deepEqual(child?.dependencies, [a.id]);
      const cancelled = await queue.getStatus(c.id);
      assert.equal(cancelled?.status, "cancelled");
      assert.match(cancelled?.error ?? "", new RegExp(failed.id));
      const worker = new Worker(target, { tasks: [noop, sum] });
      while (await worker.processOne());
      worker.close();
      assert.equal((await queue.getStatus(b.id))?.status, "completed");
    } finally {
      await sql.end({ timeout: 1 });
      queue.close();
    }
  },
);

postgresTest(
  "submitInTransaction refuses bad arguments, naming them, and writes nothing",
  async ({ target }) => {
    const queue = new JobQueue(target);
    const sql = appClient(target);
    try {
      await queue.stats();
      await sql.begin(async (tx) => {
        await assert.rejects(
          submitInTransaction({} as never, queue, noop.toJob({})),
          /expected a transaction of the npm postgres client.*got an object/,
        );
        await assert.rejects(
          submitInTransaction(tx, {} as never, noop.toJob({})),
          /expected a JobQueue, got an object/,
        );
        await assert.rejects(
          submitInTransaction(tx, queue, [noop.toJob({})] as never),
          /expected a Job, got an array/,
        );
        await assert.rejects(
          submitManyInTransaction(tx, queue, 5 as never),
          /expected an iterable of jobs, got 5/,
        );
        const dup = noop.toJob({});
        await queue.submit(dup);
        await assert.rejects(
          tx.savepoint((sp) => submitInTransaction(sp, queue, dup)),
          /a job with id .* was already submitted/,
        );
      });
      assert.equal((await queue.stats()).total, 1);
    } finally {
      await sql.end({ timeout: 1 });
      queue.close();
    }
  },
);

driverTest(
  "submitInTransaction refuses a SQLite queue, pointing to queue.transaction()",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const tx = { unsafe: () => Promise.resolve([]) };
    await assert.rejects(
      submitInTransaction(tx, queue, noop.toJob({})),
      /the queue is the SQLite file .*; use queue.transaction\(\)/,
    );
    assert.equal((await queue.stats()).total, 0);
    queue.close();
  },
);
