/** RemoteQueue through a running dashboard server: submit, a worker completes, getResult. */
import assert from "node:assert/strict";
import { Job, JobNotFoundError, JobQueue, task, Worker } from "../../mod.ts";
import { dashboard } from "../../dashboard.ts";
import { RemoteError, RemoteQueue } from "../../remote.ts";
import { backendTest } from "../_backends.ts";
import { tempDb } from "../_helpers.ts";

const TOKEN = "remote-test-token";
const quiet = () => {};
const double = task("double", (p: { n: number }) => p.n * 2);

/** Serves `queue`'s dashboard on a free loopback port for the test. */
async function serving<T>(queue: JobQueue, fn: (url: string) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stop.signal, onListen: () => {} },
    dashboard(queue, { token: TOKEN }),
  );
  try {
    return await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    stop.abort();
    await server.finished;
  }
}

backendTest(
  "RemoteQueue submits through a running dashboard, a worker completes the job, getResult returns it",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    await serving(queue, async (url) => {
      const remote = new RemoteQueue(url, { token: TOKEN });
      const job = new Job({ task: "double", params: { n: 21 }, queue: "math" });
      const id = await remote.submit(job);
      assert.equal(id, job.id, "the id made on the client is the job's id");
      assert.equal((await remote.getStatus(id))?.status, "pending");
      assert.equal(await remote.getResult(id), undefined);
      const worker = new Worker(target, { ...options, tasks: [double], logger: quiet });
      assert.equal(await worker.processOne(), true);
      worker.close();
      assert.equal(await remote.getResult(id), 42);
      const details = await remote.getStatus(id);
      assert.equal(details?.status, "completed");
      assert.equal(details?.executions.length, 1);
      // The rest of the shapes.
      const ids = await remote.submitMany([
        { task: "double", params: { n: 1 } },
        new Job({ task: "double", params: { n: 2 } }),
      ]);
      assert.equal(ids.length, 2);
      assert.deepEqual((await remote.listJobs({ limit: 2 })).map((j) => j.id), [...ids].reverse());
      assert.equal((await remote.listJobs({ queue: "math" }))[0].id, id);
      assert.equal((await remote.stats()).pending, 2);
      assert.equal((await remote.stats({ queue: "math" })).completed, 1);
      assert.equal(await remote.cancel(ids[0]), true);
      assert.equal(await remote.requeue(ids[0]), true);
      assert.equal((await remote.getStatus(ids[0]))?.status, "pending");
      assert.equal(await remote.getStatus("0190aaaa-0000-7000-8000-000000000000"), undefined);
      await assert.rejects(
        remote.getResult("0190aaaa-0000-7000-8000-000000000000"),
        JobNotFoundError,
      );
      await assert.rejects(remote.cancel("0190aaaa-0000-7000-8000-000000000000"), JobNotFoundError);
      const unique = await remote.trySubmit({ task: "double", params: { n: 3 }, uniqueKey: "u" });
      assert.deepEqual(
        await remote.trySubmit({ task: "double", params: { n: 3 }, uniqueKey: "u" }),
        { id: unique.id, inserted: false },
      );
      // A job the server refuses names the field; a wrong token is a 401.
      await assert.rejects(remote.submit({ task: "double", runAt: -1e20 } as never), /runAt/);
      const wrong = new RemoteQueue(url, { token: "not-the-token", retries: 0 });
      await assert.rejects(wrong.stats(), (e) => e instanceof RemoteError && e.status === 401);
    });
    queue.close();
  },
);

Deno.test("RemoteQueue retries a submit whose answer was lost, without adding the job twice", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  try {
    const handler = dashboard(queue, { token: TOKEN });
    let calls = 0;
    // The first answer is lost after the server acted on the request.
    const lossy: typeof fetch = async (input, init) => {
      const res = await handler(
        new Request(input as string, {
          ...init,
          headers: { ...init?.headers as Record<string, string>, host: "127.0.0.1" },
        }),
      );
      if (++calls === 1) {
        await res.body?.cancel();
        throw new TypeError("connection reset");
      }
      return res;
    };
    const remote = new RemoteQueue("http://127.0.0.1", { token: TOKEN, fetch: lossy });
    const id = await remote.submit({ task: "double", params: { n: 1 } });
    assert.equal(calls, 2);
    assert.equal((await queue.stats()).total, 1);
    assert.equal((await queue.getStatus(id))?.status, "pending");
  } finally {
    queue.close();
    await db.cleanup();
  }
});

Deno.test("RemoteQueue refuses a bad URL and bad options", () => {
  assert.throws(() => new RemoteQueue("ftp://x"), /must be an http\(s\) URL/);
  assert.throws(() => new RemoteQueue("not a url"), /must be an http\(s\) URL/);
  assert.throws(() => new RemoteQueue("http://x", { timeout: 0 }), /timeout must be/);
  assert.throws(() => new RemoteQueue("http://x", { retries: -1 }), /retries must be/);
});
