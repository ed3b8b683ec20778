/** The HTTP JSON API: each route, on every backend. */
import assert from "node:assert/strict";
import { getConnection, JobQueue, task, Worker } from "../../mod.ts";
import { backendTest } from "../_backends.ts";
import { FakeClock, tempDb, until } from "../_helpers.ts";
import { Client } from "./_client.ts";

const quiet = () => {};
const double = task("double", (p: { n: number }) => p.n * 2);
const boom = task("boom", () => {
  throw new Error("boom");
}, { maxAttempts: 1 });

backendTest(
  "POST /api/jobs submits by task name with options, queue, key, runAt and dependencies",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const c = new Client(queue);
    const first = await c.post("/api/jobs", { task: "double", params: { n: 2 } });
    assert.equal(first.status, 201);
    const a = await first.json();
    assert.equal(a.inserted, true);
    const runAt = new Date(clock.now() + 60_000).toISOString();
    const second = await c.post("/api/jobs", {
      task: "double",
      name: "second",
      params: { n: 3 },
      options: { priority: 5, maxAttempts: 7, timeout: 9 },
      queue: "math",
      uniqueKey: "k1",
      runAt,
      dependencies: [a.id],
    });
    assert.equal(second.status, 201);
    const b = await second.json();
    const job = await (await c.get(`/api/jobs/${b.id}`)).json();
    assert.equal(job.name, "second");
    assert.equal(job.queue, "math");
    assert.equal(job.priority, 5);
    assert.equal(job.maxAttempts, 7);
    assert.equal(job.timeout, 9);
    assert.equal(job.uniqueKey, "k1");
    assert.equal(job.runAt, runAt);
    assert.deepEqual(job.dependencies, [a.id]);
    // The key is held: the holder's id comes back, nothing is added (200, not 201).
    const again = await c.post("/api/jobs", {
      task: "double",
      params: { n: 4 },
      queue: "math",
      uniqueKey: "k1",
    });
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), { id: b.id, inserted: false });
    // A batch.
    const batch = await c.post("/api/jobs", {
      jobs: [{ task: "double", params: { n: 5 } }, { task: "double", params: { n: 6 } }],
    });
    assert.equal(batch.status, 201);
    assert.equal((await batch.json()).jobs.length, 2);
    assert.equal((await queue.stats()).total, 4);
    queue.close();
  },
);

backendTest(
  "POST /api/jobs refuses bad submissions with 400s that name the field, adding nothing",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const c = new Client(queue);
    const cases: [unknown, RegExp][] = [
      [{}, /task must be a task name/],
      [{ task: "x", colour: 1 }, /unknown field "colour"/],
      [{ task: "x", options: { priorty: 1 } }, /unknown option "priorty"/],
      [{ task: "x", options: { maxAttempts: 0 } }, /maxAttempts/],
      [{ task: "x", runAt: "yesterday" }, /runAt/],
      [
        { task: "x", dependencies: ["0190aaaa-0000-7000-8000-000000000000"] },
        /0190aaaa-0000-7000-8000-000000000000/,
      ],
      [{ task: "x", id: "not-a-uuid" }, /id must be a UUID/],
      [{ jobs: [] }, /jobs must be an array of 1 to/],
      [[1, 2], /must be an object/],
    ];
    for (const [body, message] of cases) {
      const res = await c.post("/api/jobs", body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const err = (await res.json()).error;
      assert.equal(err.code, "bad_request");
      assert.match(err.message, message, JSON.stringify(body));
    }
    const notJson = await c.request("/api/jobs", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "{}",
    });
    assert.equal(notJson.status, 415);
    await notJson.body?.cancel();
    const broken = await c.request("/api/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    assert.equal(broken.status, 400);
    assert.match((await broken.json()).error.message, /not valid JSON/);
    assert.equal((await queue.stats()).total, 0);
    queue.close();
  },
);

backendTest(
  "a submit retried with the same id is a 409 duplicate_id, not a second job",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const c = new Client(queue);
    const id = "0190aaaa-0000-7000-8000-00000000abcd";
    assert.equal((await c.post("/api/jobs", { id, task: "double", params: { n: 1 } })).status, 201);
    const again = await c.post("/api/jobs", { id, task: "double", params: { n: 1 } });
    assert.equal(again.status, 409);
    assert.equal((await again.json()).error.code, "duplicate_id");
    assert.equal((await queue.stats()).total, 1);
    queue.close();
  },
);

backendTest(
  "GET /api/jobs filters, counts and pages newest first with a cursor",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(await double.submit(queue, { n: i }, { queue: i % 2 === 0 ? "even" : "odd" }));
      clock.jump(10);
    }
    const c = new Client(queue);
    const seen: string[] = [];
    let path = "/api/jobs?limit=3";
    for (;;) {
      const page = await (await c.get(path)).json();
      assert.deepEqual(page.count, { count: 7, exact: true });
      seen.push(...page.jobs.map((j: { id: string }) => j.id));
      if (page.next === null) break;
      path = `/api/jobs?limit=3&before=${page.next}`;
    }
    assert.deepEqual(seen, [...ids].reverse());
    const odd = await (await c.get("/api/jobs?queue=odd&task=double")).json();
    assert.deepEqual(odd.jobs.map((j: { id: string }) => j.id), [ids[5], ids[3], ids[1]]);
    const byParam = await (await c.get(`/api/jobs?search=${encodeURIComponent('"n":4')}`)).json();
    assert.deepEqual(byParam.jobs.map((j: { id: string }) => j.id), [ids[4]]);
    const byId = await (await c.get(`/api/jobs?search=${ids[2]}`)).json();
    assert.deepEqual(byId.jobs.map((j: { id: string }) => j.id), [ids[2]]);
    queue.close();
  },
);

backendTest(
  "cancel, requeue, pause and resume through the API; stats and queues show them",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const c = new Client(queue);
    const failing = await boom.submit(queue, {});
    const waiting = await double.submit(queue, { n: 1 }, { queue: "later" });
    const worker = new Worker(target, { ...options, tasks: [boom], logger: quiet });
    await worker.processOne();
    worker.close();
    assert.equal((await queue.getStatus(failing))?.status, "failed");
    const requeued = await (await c.post(`/api/jobs/${failing}/requeue`)).json();
    assert.deepEqual(requeued, { id: failing, requeued: true });
    assert.equal((await queue.getStatus(failing))?.status, "pending");
    const cancelled = await (await c.post(`/api/jobs/${waiting}/cancel`)).json();
    assert.deepEqual(cancelled, { id: waiting, cancelled: true });
    const twice = await (await c.post(`/api/jobs/${waiting}/cancel`)).json();
    assert.equal(twice.cancelled, false);
    const unknown = await c.post("/api/jobs/0190aaaa-0000-7000-8000-000000000000/cancel");
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
    assert.deepEqual(await (await c.post("/api/queues/later/pause")).json(), {
      name: "later",
      paused: true,
    });
    const queues = (await (await c.get("/api/queues")).json()).queues;
    assert.equal(queues.find((q: { name: string }) => q.name === "later").paused, true);
    assert.deepEqual(await (await c.post("/api/queues/later/resume")).json(), {
      name: "later",
      paused: false,
    });
    assert.equal(
      await queue.queues().then((qs) => qs.find((q) => q.name === "later")?.paused),
      false,
    );
    const stats = await (await c.get("/api/stats")).json();
    assert.equal(stats.pending, 1);
    assert.equal(stats.cancelled, 1);
    const stats2 = await (await c.get("/api/stats?queue=later")).json();
    assert.equal(stats2.total, 1);
    const wrongMethod = await c.request("/api/stats", { method: "POST" });
    assert.equal(wrongMethod.status, 405);
    await wrongMethod.body?.cancel();
    queue.close();
  },
);

backendTest(
  "GET /api/workers lists live workers with their running jobs; schedules list and run now",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const c = new Client(queue);
    const worker = new Worker(target, {
      ...options,
      tasks: [double],
      logger: quiet,
      workerId: "w-api",
    });
    const done = worker.start();
    await until(async () => (await queue.workers()).some((w) => w.id === "w-api"));
    const workers = (await (await c.get("/api/workers")).json()).workers;
    assert.ok(workers.some((w: { id: string }) => w.id === "w-api"), JSON.stringify(workers));
    worker.stop();
    await done;
    worker.close();
    await queue.schedule({ name: "nightly", cron: "0 1 * * *", task: double, params: { n: 21 } });
    const schedules = (await (await c.get("/api/schedules")).json()).schedules;
    assert.deepEqual(schedules.map((s: { name: string }) => s.name), ["nightly"]);
    const ran = await c.post("/api/schedules/nightly/run");
    assert.equal(ran.status, 201);
    const { id } = await ran.json();
    const job = await queue.getStatus(id);
    assert.equal(job?.name, "nightly");
    assert.deepEqual(job?.params, { n: 21 });
    const none = await c.post("/api/schedules/nope/run");
    assert.equal(none.status, 404);
    await none.body?.cancel();
    queue.close();
  },
);

backendTest(
  "page actions: requeue a failed job, bulk requeue by filter, pause a queue, run a schedule",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const c = new Client(queue);
    const ids = [
      await boom.submit(queue, {}),
      await boom.submit(queue, {}),
      await boom.submit(queue, {}, { queue: "other" }),
    ];
    const worker = new Worker(target, { ...options, tasks: [boom], logger: quiet });
    while ((await queue.stats()).pending > 0) await worker.processOne();
    worker.close();
    const { csrf } = await c.page(`/jobs/${ids[0]}`);
    const one = await c.form(`/jobs/${ids[0]}/requeue`, { csrf: csrf! });
    assert.equal(one.status, 303);
    assert.equal(one.headers.get("location"), `/jobs/${ids[0]}`);
    assert.equal((await queue.getStatus(ids[0]))?.status, "pending");
    const after = await c.page(`/jobs/${ids[0]}`);
    assert.match(after.text, /Requeued the job/);
    const bulk = await c.form("/jobs/requeue", { csrf: csrf!, status: "failed", queue: "default" });
    assert.equal(bulk.status, 303);
    assert.equal((await queue.getStatus(ids[1]))?.status, "pending");
    assert.equal((await queue.getStatus(ids[2]))?.status, "failed");
    assert.match((await c.page(bulk.headers.get("location")!)).text, /Requeued 1 job/);
    await c.form("/queues/other/pause", { csrf: csrf! });
    assert.equal((await queue.queues()).find((q) => q.name === "other")?.paused, true);
    const overview = await c.page("/");
    assert.match(overview.text, /data-queue="other"[^]*?data-testid="paused"/);
    queue.close();
  },
);

Deno.test("a worker that stopped showing signs of life is not listed as live (it was killed)", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  try {
    await queue.stats();
    const conn = getConnection(db.path);
    const now = Date.now();
    const row = (id: string, seen: number, stopped: number | null) =>
      conn.prepare(
        `INSERT INTO gigq_workers (id, host, pid, tasks, concurrency, started_at, seen_at, stopped_at)
         VALUES (?, 'h', 1, '[]', 1, ?, ?, ?)`,
      ).run(id, seen, seen, stopped);
    row("w-live", now - 5_000, null);
    row("w-killed", now - 120_000, null);
    row("w-stopped", now - 30_000, now - 30_000);
    const c = new Client(queue);
    const overview = (await c.page("/")).text;
    assert.match(overview, /Live workers \(1\)/);
    assert.match(overview, /w-live/);
    assert.doesNotMatch(overview, /w-killed|w-stopped/);
    const page = (await c.page("/workers/")).text;
    assert.match(page, /Live \(1\)[^]*w-live[^]*Silent for over a minute \(1\)[^]*w-killed/);
    assert.doesNotMatch(page, /w-stopped/);
    assert.match((await c.page("/workers/?stopped=1")).text, /Stopped \(1\)[^]*w-stopped/);
  } finally {
    queue.close();
    await db.cleanup();
  }
});

backendTest(
  "a filter's count stops at 1,000 (shown as 1,000+); a first page that is not full is its own count",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    await queue.submitMany(Array.from({ length: 1001 }, (_, n) => double.toJob({ n })));
    await double.submit(queue, { n: -1 }, { queue: "rare" });
    const c = new Client(queue);
    const all = await (await c.get("/api/jobs?limit=10")).json();
    assert.deepEqual(all.count, { count: 1000, exact: false });
    assert.match((await c.page("/jobs/")).text, /1,000\+ jobs/);
    const rare = await (await c.get("/api/jobs?queue=rare")).json();
    assert.deepEqual(rare.count, { count: 1, exact: true });
    assert.equal(rare.next, null);
    queue.close();
  },
);
