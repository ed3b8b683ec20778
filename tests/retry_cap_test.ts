/** A job's maxRetryDelay is stored and caps its exponential backoff, on every backend. */
import assert from "node:assert/strict";
import { JobQueue, task, Worker } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { FakeClock } from "./_helpers.ts";
import { cli, TASKS } from "./cli/_cli.ts";

const flaky = task("flaky", () => {
  throw new Error("not yet");
}, { maxAttempts: 5, retryDelay: 100, backoff: "exponential", maxRetryDelay: 10 });

backendTest(
  "maxRetryDelay is stored with the job and caps the wait before each retry (equal jitter below it)",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const id = await flaky.submit(queue, {});
    const other = await flaky.submit(queue, {}, { maxRetryDelay: 3600 });
    assert.equal((await queue.getStatus(id))?.maxRetryDelay, 10);
    assert.equal((await queue.getStatus(other))?.maxRetryDelay, 3600);
    const worker = new Worker(target, { ...options, tasks: [flaky], clock, logger: () => {} });
    assert.equal(await worker.processOne(), true);
    assert.equal(await worker.processOne(), true);
    worker.close();
    const waitOf = async (jobId: string) => {
      const job = await queue.getStatus(jobId);
      assert.equal(job?.status, "pending");
      return (Date.parse(job!.runAt) - clock.now()) / 1000;
    };
    // min(100 × 2^0, 10) = 10: between 5 and 10 s. Uncapped at 3600: between 50 and 100 s.
    const capped = await waitOf(id);
    assert.ok(capped >= 5 && capped <= 10, `waits ${capped} s`);
    const wide = await waitOf(other);
    assert.ok(wide >= 50 && wide <= 100, `waits ${wide} s`);
    queue.close();
  },
);

backendTest(
  "gigq submit --max-retry-delay stores the cap; a bad one exits 2 and adds nothing",
  async ({ target, driver }) => {
    const db = ["--db", target, ...(driver ? ["--driver", driver] : [])];
    const ok = await cli([...db, "submit", `${TASKS}#echo`, "--max-retry-delay", "10", "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    const { id } = JSON.parse(ok.stdout);
    const status = JSON.parse((await cli([...db, "status", id, "--json"])).stdout);
    assert.equal(status.maxRetryDelay, 10);
    for (const bad of ["-5", "abc", "315360001"]) {
      const r = await cli([...db, "submit", `${TASKS}#echo`, "--max-retry-delay", bad]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /max-?retry-?delay/i);
    }
    assert.equal(JSON.parse((await cli([...db, "stats", "--json"])).stdout).total, 1);
  },
);
