/** `gigq requeue` and `gigq cancel` in their bulk form (filters, no id), on every backend. */
import assert from "node:assert/strict";
import { JobQueue, task, Worker } from "../../mod.ts";
import { backendTest } from "../_backends.ts";
import { noop } from "../_tasks.ts";
import { cli, ok } from "./_cli.ts";

const bounce = task("bounce", () => {
  throw new Error("mailbox full");
}, { queue: "emails", maxAttempts: 1 });

backendTest(
  "gigq requeue --status failed --queue Q and gigq cancel --queue Q print the count",
  async ({ target, driver, options }) => {
    const args = ["--db", target, ...(driver ? ["--driver", driver] : [])];
    const queue = new JobQueue(target, options);
    const failed = await queue.submitMany([bounce.toJob({}), bounce.toJob({})]);
    const worker = new Worker(target, { ...options, tasks: [bounce], logger: () => {} });
    while (await worker.processOne()) { /* next */ }
    worker.close();
    assert.equal(
      await ok([...args, "requeue", "--status", "failed", "--queue", "emails"]),
      "2 jobs requeued.\n",
    );
    for (const id of failed) assert.equal((await queue.getStatus(id))?.status, "pending");
    await noop.submit(queue, { n: 1 }, { queue: "reports" });
    assert.deepEqual(
      JSON.parse(await ok([...args, "cancel", "--queue", "emails", "--name", "bounce", "--json"])),
      { count: 2 },
    );
    assert.equal(await ok([...args, "cancel", "--queue", "emails"]), "0 jobs cancelled.\n");
    assert.deepEqual(
      JSON.parse(await ok([...args, "requeue", "--status", "cancelled", "--json"])),
      { count: 2 },
    );
    assert.equal((await queue.stats({ queue: "reports" })).pending, 1, "another queue");
    queue.close();
  },
);

backendTest(
  "gigq requeue and cancel refuse an id with filters, no id nor filter, and bad filters (exit 2)",
  async ({ target, driver, options }) => {
    const args = ["--db", target, ...(driver ? ["--driver", driver] : [])];
    const queue = new JobQueue(target, options);
    const id = await noop.submit(queue, { n: 1 }, { queue: "emails" });
    const cases: [string[], RegExp][] = [
      [["cancel", id, "--queue", "emails"], /give a job id or filters \(--queue\), not both/],
      [["requeue", id, "--status", "failed"], /not both/],
      [["cancel"], /give a job id, or at least one of --status, --queue and --name/],
      [["requeue"], /at least one of --status, --queue and --name/],
      [["requeue", "--status", "done"], /status must be one of "failed", "timeout", "cancelled"/],
      [["cancel", "--status", "failed"], /status must be one of "pending", "running"/],
      [["cancel", "--queue", ""], /queue must be a queue name/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli([...args, ...argv]);
      assert.equal(r.code, 2, `${argv.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
    }
    assert.equal((await queue.getStatus(id))?.status, "pending", "nothing changed");
    queue.close();
  },
);
