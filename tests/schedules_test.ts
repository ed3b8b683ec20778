/**
 * Cron schedules on every backend: JobQueue.schedule/unschedule/schedules,
 * what a worker fires (once per slot, however many workers), missed slots,
 * updates, pauses, why(), and slots on the days the clocks change. Time is
 * a FakeClock; workers fire on their timers as it moves.
 */
import assert from "node:assert/strict";
import { type JobInfo, JobQueue, type ScheduleInfo, task, why, Worker } from "../mod.ts";
import { type BackendContext, backendTest, withPostgres } from "./_backends.ts";
import { FakeClock, settle, until } from "./_helpers.ts";
import { getConnection } from "../mod.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const report = task("report", (p: { kind?: string }) => `report ${p.kind ?? "-"}`, {
  timeout: 60,
  queue: "reports",
});
const other = task("other", () => "other");

/** What each test worker logged. */
const logs = new WeakMap<Worker, string[]>();

/** A worker on the test's backend and clock: polls (and reads schedules) hourly, renews rarely. */
function worker(ctx: BackendContext, clock: FakeClock, tasks = [report], id?: string): Worker {
  const lines: string[] = [];
  const w = new Worker(ctx.target, {
    ...ctx.options,
    tasks,
    clock,
    pollInterval: 3600,
    lease: 86_400,
    workerId: id,
    logger: (level, message) => {
      lines.push(message);
      if (Deno.env.get("DEBUG_SCHED")) console.log(level, message);
    },
  });
  logs.set(w, lines);
  return w;
}

/** Waits until `cond()` holds (up to a minute: a worker may have thousands of jobs to run first). */
async function eventually(cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition never became true");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** schedule() while a worker runs, and let the worker read it before the clock moves. */
async function reschedule(
  queue: JobQueue,
  options: Parameters<JobQueue["schedule"]>[0],
): Promise<ScheduleInfo> {
  const info = await queue.schedule(options);
  await settle();
  return info;
}

/** Starts `w` and waits until it has read (and fired) the schedules once. */
async function started(w: Worker): Promise<() => Promise<void>> {
  const done = w.start();
  // Its scheduler starts with its loop, right after the line "started" is logged.
  await eventually(() => logs.get(w)!.some((l) => / started \(/.test(l)));
  await settle();
  return async () => {
    w.stop();
    await done;
    w.close();
  };
}

/** The jobs named `name`, oldest first. */
async function jobsOf(queue: JobQueue, name: string): Promise<JobInfo[]> {
  const jobs = await queue.listJobs({ limit: 100_000 });
  return jobs.filter((j) => j.name === name).reverse();
}

/** Rows of a table in the test's storage (a peek under the API). */
async function count(ctx: BackendContext, table: string): Promise<number> {
  if (ctx.backend === "postgres") {
    return await withPostgres(ctx.target, async (sql, schema) => {
      const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM "${schema}".${table}`);
      return row.n as number;
    });
  }
  const conn = getConnection(ctx.target, ctx.options);
  return Number(conn.prepare(`SELECT count(*) FROM ${table}`).values()[0][0]);
}

/** Local wall time of `iso` in `timezone`. */
function local(iso: string, timezone: string): string {
  return new Date(iso).toLocaleString("sv-SE", { timeZone: timezone });
}

backendTest(
  "schedule() stores a schedule and returns it; again updates it; schedules() lists; unschedule() removes",
  async (ctx) => {
    const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    const info = await queue.schedule({
      name: "nightly-report",
      cron: "0 1 * * *",
      timezone: "Europe/Berlin",
      task: report,
      params: { kind: "sales" },
      priority: 5,
    });
    const expected: ScheduleInfo = {
      name: "nightly-report",
      cron: "0 1 * * *",
      timezone: "Europe/Berlin",
      task: "report",
      module: null,
      params: { kind: "sales" },
      // The task's defaults, as new Job({ task: report }) takes them.
      queue: "reports",
      priority: 5,
      maxAttempts: 3,
      timeout: 60,
      retryDelay: 0,
      backoff: "fixed",
      maxRetryDelay: 86_400,
      description: "",
      missed: "one",
      paused: false,
      // 01:00 in Berlin (CET, UTC+1) the next night.
      nextRunAt: "2026-01-02T00:00:00.000Z",
      lastRunAt: null,
      createdAt: "2026-01-01T12:00:00.000Z",
      updatedAt: "2026-01-01T12:00:00.000Z",
    };
    assert.deepEqual(info, expected);
    await queue.schedule({ name: "b-hourly", cron: "@hourly", task: "other", module: "./t.ts#o" });
    assert.deepEqual((await queue.schedules()).map((s) => s.name), ["b-hourly", "nightly-report"]);
    assert.deepEqual((await queue.schedules())[1], expected);
    const hourly = (await queue.schedules())[0];
    assert.deepEqual(
      [hourly.task, hourly.module, hourly.timezone, hourly.queue, hourly.params, hourly.nextRunAt],
      ["other", "./t.ts#o", "UTC", "default", {}, "2026-01-01T13:00:00.000Z"],
    );

    clock.jump(MINUTE);
    const updated = await queue.schedule({
      name: "nightly-report",
      cron: "0 1 * * *",
      timezone: "Europe/Berlin",
      task: report,
      params: { kind: "costs" },
      queue: "night",
      missed: "skip",
    });
    assert.deepEqual(updated, {
      ...expected,
      params: { kind: "costs" },
      queue: "night",
      priority: 0,
      missed: "skip",
      updatedAt: "2026-01-01T12:01:00.000Z",
    });
    assert.equal(await queue.unschedule("nightly-report"), true);
    assert.equal(await queue.unschedule("nightly-report"), false);
    assert.equal(await queue.unschedule("never-was"), false);
    assert.deepEqual((await queue.schedules()).map((s) => s.name), ["b-hourly"]);
    queue.close();
  },
);

backendTest(
  "a bad cron, time zone or option is refused with a message naming it, and nothing is stored",
  async (ctx) => {
    const queue = new JobQueue(ctx.target, ctx.options);
    const base = { name: "x", cron: "0 1 * * *", task: report };
    const bad: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
      [
        { cron: "61 * * * *" },
        RangeError,
        /^Cannot schedule "x": cron "61 \* \* \* \*" is not valid: .*minute/,
      ],
      [{ cron: "every day" }, RangeError, /^Cannot schedule "x": cron "every day" is not valid:/],
      [
        { cron: "* * * * * * *" },
        RangeError,
        /^Cannot schedule "x": cron "\* \* \* \* \* \* \*" is not valid:/,
      ],
      [
        { cron: "0 0 30 2 *" },
        RangeError,
        /^Cannot schedule "x": cron "0 0 30 2 \*" is not valid: it matches no date/,
      ],
      [{ cron: 5 }, TypeError, /^Cannot schedule "x": cron must be a cron expression .*got 5/],
      [
        { timezone: "Europe/Nowhere" },
        RangeError,
        /^Cannot schedule "x": timezone "Europe\/Nowhere" is not valid: .*IANA/,
      ],
      [{ timezone: 1 }, TypeError, /^Cannot schedule "x": timezone must be/],
      [
        { missed: "some" },
        RangeError,
        /^Cannot schedule "x": missed must be one of "skip", "one", "all", got "some"/,
      ],
      [{ paused: "yes" }, TypeError, /^Cannot schedule "x": paused must be true or false/],
      // Job's own checks and words.
      [{ priority: 1.5 }, RangeError, /^Cannot create job "x": priority must be a whole number/],
      [{ timeout: -1 }, RangeError, /^Cannot create job "x": timeout must be a number of seconds/],
      [{ queue: "" }, TypeError, /^Cannot create job "x": queue must be a queue name/],
      [
        { task: 42 },
        TypeError,
        /^Cannot create job: task must be a task from task\(\) or a task name/,
      ],
      [{ task: "" }, RangeError, /^Cannot create job: task must not be empty/],
      [{ params: { f: () => 1 } }, TypeError, /^Cannot schedule "x": params/],
      [{ name: "" }, RangeError, /^Cannot schedule: name must not be empty/],
      [{ colour: "red" }, TypeError, /^Cannot schedule: unknown option "colour"/],
      [{ runAt: 5 }, TypeError, /^Cannot schedule: unknown option "runAt"/],
    ];
    for (const [change, type, message] of bad) {
      await assert.rejects(() => queue.schedule({ ...base, ...change } as never), (e: Error) => {
        assert.ok(e instanceof type, `${JSON.stringify(change)}: ${e.name}: ${e.message}`);
        assert.match(e.message, message, JSON.stringify(change));
        return true;
      });
    }
    await assert.rejects(() => queue.schedule(undefined as never), TypeError);
    assert.deepEqual(await queue.schedules(), []);
    assert.equal(await count(ctx, "gigq_schedules"), 0);
    // A refused update leaves the stored schedule as it was.
    const stored = await queue.schedule(base);
    await assert.rejects(() => queue.schedule({ ...base, cron: "nope" }), RangeError);
    await assert.rejects(() => queue.schedule({ ...base, timezone: "Mars/Base" }), RangeError);
    assert.deepEqual(await queue.schedules(), [stored]);
    await assert.rejects(() => queue.unschedule(7 as never), TypeError);
    queue.close();
  },
);

backendTest(
  "a due slot fires one job into its queue with the schedule's params and options, not before",
  async (ctx) => {
    const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    await queue.schedule({
      name: "every-5",
      cron: "*/5 * * * *",
      task: report,
      params: { kind: "sales" },
      queue: "night",
      priority: 7,
      maxAttempts: 2,
      retryDelay: 3,
      description: "five-minutely",
      concurrencyKey: "reports",
    });
    const stop = await started(worker(ctx, clock));
    await clock.tick(5 * MINUTE - 1);
    assert.deepEqual(await jobsOf(queue, "every-5"), [], "nothing before the slot");
    await clock.tick(1);
    await until(async () => (await jobsOf(queue, "every-5")).length === 1);
    const [job] = await jobsOf(queue, "every-5");
    assert.equal(job.task, "report");
    assert.equal(job.queue, "night");
    assert.deepEqual(job.params, { kind: "sales" });
    assert.deepEqual(
      [job.priority, job.maxAttempts, job.retryDelay, job.timeout, job.description],
      [7, 2, 3, 60, "five-minutely"],
    );
    assert.equal(job.runAt, "2026-01-01T12:05:00.000Z");
    assert.equal(job.concurrencyKey, "reports");
    // Its worker runs it.
    await until(async () => (await queue.getStatus(job.id))?.status === "completed");
    assert.equal(await queue.getResult(job.id), "report sales");
    const [s] = await queue.schedules();
    assert.equal(s.lastRunAt, "2026-01-01T12:05:00.000Z");
    assert.equal(s.nextRunAt, "2026-01-01T12:10:00.000Z");
    await clock.tick(10 * MINUTE);
    assert.deepEqual(
      (await jobsOf(queue, "every-5")).map((j) => j.runAt),
      ["2026-01-01T12:05:00.000Z", "2026-01-01T12:10:00.000Z", "2026-01-01T12:15:00.000Z"],
    );
    await stop();
    queue.close();
  },
);

backendTest(
  "a worker fires only the schedules of its tasks, and none while it is not running",
  async (ctx) => {
    const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    await queue.schedule({ name: "r", cron: "* * * * *", task: report });
    await queue.schedule({ name: "o", cron: "* * * * *", task: other });
    const w = worker(ctx, clock, [report]);
    assert.equal(await w.processOne(), false, "processOne fires nothing");
    await clock.tick(MINUTE);
    assert.equal((await queue.stats()).total, 0);
    const stop = await started(w);
    await clock.tick(0);
    await until(async () => (await jobsOf(queue, "r")).length === 1);
    assert.deepEqual(await jobsOf(queue, "o"), []);
    await stop();
    queue.close();
  },
);

backendTest(
  "two workers (two connections where the backend has them) on one clock fire one job per slot",
  async (ctx) => {
    const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    await queue.schedule({ name: "minutely", cron: "* * * * *", task: report });
    await queue.schedule({ name: "seconds", cron: "*/10 * * * * *", task: report });
    const stops = [
      await started(worker(ctx, clock, [report], "a")),
      await started(worker(ctx, clock, [report, other], "b")),
    ];
    for (let i = 0; i < 30; i++) await clock.tick(10_000);
    const minutely = await jobsOf(queue, "minutely");
    const seconds = await jobsOf(queue, "seconds");
    assert.deepEqual(
      minutely.map((j) => j.runAt),
      Array.from(
        { length: 5 },
        (_, i) => new Date(Date.parse("2026-01-01T12:01:00Z") + i * MINUTE).toISOString(),
      ),
    );
    assert.deepEqual(
      seconds.map((j) => j.runAt),
      Array.from(
        { length: 30 },
        (_, i) => new Date(Date.parse("2026-01-01T12:00:10Z") + i * 10_000).toISOString(),
      ),
    );
    assert.equal(await count(ctx, "gigq_schedule_runs"), 35);
    for (const stop of stops) await stop();
    queue.close();
  },
);

backendTest(
  "missed slots after a long gap: skip fires none, one fires one, all fires each (1,000 a pass)",
  async (ctx) => {
    const start = Date.parse("2026-01-01T12:00:00Z");
    const clock = new FakeClock(start);
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    for (const missed of ["skip", "one", "all"] as const) {
      await queue.schedule({ name: missed, cron: "*/10 * * * *", task: report, missed });
    }
    await queue.schedule({
      name: "seconds-all",
      cron: "*/10 * * * * *",
      task: report,
      missed: "all",
    });
    // Down for 5 hours and 10 seconds: the 12:10 … 17:00 slots are missed (30 of them), and
    // 1,801 of seconds-all (two passes); 17:00:00 itself is 10 s late, inside the grace.
    clock.jump(5 * HOUR + 10_000);
    const stop = await started(worker(ctx, clock));
    await clock.tick(0);
    await eventually(async () => (await queue.stats()).total >= 1801 + 30 + 2 + 1);
    const runs = async (name: string) => (await jobsOf(queue, name)).map((j) => j.runAt);
    const at = (h: number, m: number) => new Date(start + h * HOUR + m * MINUTE).toISOString();
    // 17:00 is on time (10 s late) and fires whatever the rule.
    assert.deepEqual(await runs("skip"), [at(5, 0)]);
    // One job for the whole missed window (its first slot), and the one on time.
    assert.deepEqual(await runs("one"), [at(0, 10), at(5, 0)]);
    assert.deepEqual(
      await runs("all"),
      Array.from({ length: 30 }, (_, i) => at(0, 10 * (i + 1))),
    );
    const seconds = await runs("seconds-all");
    assert.equal(seconds.length, 1801);
    assert.equal(new Set(seconds).size, 1801);
    assert.equal(seconds[0], new Date(start + 10_000).toISOString());
    assert.equal(seconds.at(-1), new Date(start + 5 * HOUR + 10_000).toISOString());
    for (const s of await queue.schedules()) {
      assert.equal(s.nextRunAt! > new Date(clock.now()).toISOString(), true, s.name);
    }
    // Back on time: each rule fires the next slot, once.
    await clock.tick(10 * MINUTE - 10_000);
    for (const name of ["skip", "one", "all"]) assert.equal((await runs(name)).at(-1), at(5, 10));
    await stop();
    queue.close();
  },
);

backendTest(
  "a new cron takes effect from its next slot; re-scheduling unchanged keeps the next slot",
  async (ctx) => {
    const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    const first = await queue.schedule({ name: "s", cron: "0 * * * *", task: report });
    assert.equal(first.nextRunAt, "2026-01-01T13:00:00.000Z");
    const stop = await started(worker(ctx, clock));
    await clock.tick(HOUR + 30 * MINUTE); // 13:30: the 13:00 slot fired
    assert.deepEqual((await jobsOf(queue, "s")).map((j) => j.runAt), ["2026-01-01T13:00:00.000Z"]);
    // An application that schedules at every start, at 13:30 and again at 13:59:59.
    for (const jump of [0, 29 * MINUTE + 59_000]) {
      clock.jump(jump);
      const again = await reschedule(queue, { name: "s", cron: "0 * * * *", task: report });
      assert.equal(again.nextRunAt, "2026-01-01T14:00:00.000Z", "the next slot is kept");
      assert.equal(again.lastRunAt, "2026-01-01T13:00:00.000Z");
    }
    await clock.tick(1000); // 14:00:00
    assert.deepEqual(
      (await jobsOf(queue, "s")).map((j) => j.runAt),
      ["2026-01-01T13:00:00.000Z", "2026-01-01T14:00:00.000Z"],
      "neither skipped nor fired twice",
    );
    // 14:20: a new cron, every 15 minutes: its next slot after now is 14:30.
    await clock.tick(20 * MINUTE);
    const changed = await reschedule(queue, { name: "s", cron: "*/15 * * * *", task: report });
    assert.equal(changed.nextRunAt, "2026-01-01T14:30:00.000Z");
    // The same cron in another time zone is a change too: from now.
    clock.jump(MINUTE);
    const zoned = await reschedule(queue, {
      name: "s",
      cron: "*/15 * * * *",
      timezone: "Asia/Kolkata", // UTC+05:30: quarter hours fall on UTC quarter hours too
      task: report,
    });
    assert.equal(zoned.nextRunAt, "2026-01-01T14:30:00.000Z");
    await clock.tick(40 * MINUTE); // to 15:01
    assert.deepEqual((await jobsOf(queue, "s")).map((j) => j.runAt), [
      "2026-01-01T13:00:00.000Z",
      "2026-01-01T14:00:00.000Z",
      "2026-01-01T14:30:00.000Z",
      "2026-01-01T14:45:00.000Z",
      "2026-01-01T15:00:00.000Z",
    ]);
    await stop();
    queue.close();
  },
);

backendTest(
  "a paused schedule fires nothing; resumed, its missed slots follow its rule (no burst)",
  async (ctx) => {
    const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    const def = { name: "p", cron: "* * * * *", task: report } as const;
    await queue.schedule({ ...def, paused: true });
    const stop = await started(worker(ctx, clock));
    for (let i = 0; i < 10; i++) await clock.tick(MINUTE);
    assert.deepEqual(await jobsOf(queue, "p"), []);
    // Left out, paused is kept (an app scheduling at start does not resume it).
    assert.equal((await reschedule(queue, def)).paused, true);
    await clock.tick(MINUTE);
    assert.deepEqual(await jobsOf(queue, "p"), []);
    const resumed = await reschedule(queue, { ...def, paused: false });
    assert.equal(resumed.paused, false);
    assert.equal(resumed.nextRunAt, "2026-01-01T12:01:00.000Z", "its slot waited");
    await clock.tick(0);
    await until(async () => (await jobsOf(queue, "p")).length > 0);
    // 12:01 … 12:11 were missed: one job for them (12:11:00 is on time at 12:11:00).
    assert.deepEqual((await jobsOf(queue, "p")).map((j) => j.runAt), [
      "2026-01-01T12:01:00.000Z",
      "2026-01-01T12:11:00.000Z",
    ]);
    await clock.tick(MINUTE);
    assert.equal((await jobsOf(queue, "p")).length, 3);
    await stop();
    queue.close();
  },
);

backendTest("why() names the schedule and slot that fired a job", async (ctx) => {
  const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
  const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
  await queue.schedule({ name: "nightly", cron: "0 13 * * *", task: report, missed: "one" });
  const plain = await report.submit(queue, {});
  const stop = await started(worker(ctx, clock));
  await clock.tick(HOUR);
  const [job] = await jobsOf(queue, "nightly");
  await until(async () => (await queue.getStatus(job.id))?.status === "completed");
  const answer = await why(queue, job.id);
  assert.deepEqual(answer.schedule, {
    name: "nightly",
    slot: "2026-01-01T13:00:00.000Z",
    firedAt: "2026-01-01T13:00:00.000Z",
  });
  assert.match(answer.message, /^completed at .*; fired by schedule "nightly" for its slot at /);
  assert.doesNotMatch(answer.message, /late/);
  assert.equal((await why(queue, plain)).schedule, null);
  assert.doesNotMatch((await why(queue, plain)).message, /schedule/);
  // A slot caught up late says when it fired.
  await stop();
  clock.jump(2 * DAY);
  const stop2 = await started(worker(ctx, clock));
  await clock.tick(0);
  await until(async () => (await jobsOf(queue, "nightly")).length === 3);
  const late = (await jobsOf(queue, "nightly"))[1];
  const lateAnswer = await why(queue, late.id);
  assert.equal(lateAnswer.schedule?.slot, "2026-01-02T13:00:00.000Z");
  assert.equal(lateAnswer.schedule?.firedAt, "2026-01-03T13:00:00.000Z");
  assert.match(lateAnswer.message, /fired by schedule "nightly" for its slot at .* \(late, at /);
  await stop2();
  queue.close();
});

backendTest(
  "slot records are pruned in the fire: the last 1,000 of a schedule are kept",
  async (ctx) => {
    const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    await queue.schedule({ name: "fast", cron: "* * * * * *", task: report, missed: "all" });
    clock.jump(1200 * 1000);
    const stop = await started(worker(ctx, clock));
    await clock.tick(0);
    await eventually(async () => (await queue.stats()).total >= 1200);
    await clock.tick(1000);
    assert.equal((await jobsOf(queue, "fast")).length, 1201);
    assert.equal(await count(ctx, "gigq_schedule_runs"), 1000);
    // Removed a week later: only the last ten records of its old slots stay (for why).
    await stop();
    clock.jump(8 * DAY);
    assert.equal(await queue.unschedule("fast"), true);
    assert.equal(await count(ctx, "gigq_schedule_runs"), 10);
    queue.close();
  },
);

/** The jobs a worker fires for `cron` in `timezone` over the three days around `day`. */
async function firedAround(
  ctx: BackendContext,
  cron: string,
  timezone: string,
  day: string,
): Promise<string[]> {
  const start = Date.parse(`${day}T00:00:00Z`) - DAY;
  const clock = new FakeClock(start);
  const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
  const name = `${cron} ${timezone} ${day}`;
  await queue.schedule({ name, cron, timezone, task: report, missed: "skip" });
  const stop = await started(worker(ctx, clock));
  for (let h = 0; h < 72; h++) await clock.tick(HOUR);
  await stop();
  const fired = (await jobsOf(queue, name)).map((j) => j.runAt);
  await queue.unschedule(name);
  queue.close();
  // Fired on time, each at its slot.
  assert.equal(new Set(fired).size, fired.length, "no slot fired twice");
  return fired;
}

backendTest(
  "on the days the clocks change a 02:30 job fires once, at the documented local time",
  async (ctx) => {
    const cases = [
      // Spring-forward: 02:30 does not exist; it fires at 03:30 summer time (01:30 UTC).
      ["Europe/Berlin", "2026-03-29", "2026-03-29 03:30:00", "2026-03-29T01:30:00.000Z"],
      // Fall-back: 02:30 happens twice; it fires at the first (summer time, 00:30 UTC).
      ["Europe/Berlin", "2026-10-25", "2026-10-25 02:30:00", "2026-10-25T00:30:00.000Z"],
      ["America/New_York", "2026-03-08", "2026-03-08 03:30:00", "2026-03-08T07:30:00.000Z"],
      // New York repeats 01:00-02:00: 02:30 comes once.
      ["America/New_York", "2026-11-01", "2026-11-01 02:30:00", "2026-11-01T07:30:00.000Z"],
    ];
    for (const [timezone, day, wall, utc] of cases) {
      const fired = await firedAround(ctx, "30 2 * * *", timezone, day);
      const onDay = fired.filter((t) => local(t, timezone).startsWith(day));
      assert.deepEqual(onDay, [utc], `${timezone} ${day}: ${fired}`);
      assert.equal(local(onDay[0], timezone), wall);
      // The day before and after: 02:30 local, once each.
      assert.deepEqual(
        fired.filter((t) => !t.startsWith(day)).map((t) => local(t, timezone).slice(11)),
        [
          "02:30:00",
          "02:30:00",
        ],
      );
    }
  },
);

backendTest(
  "an hourly job fires once per real hour across the days the clocks change",
  async (ctx) => {
    for (
      const [timezone, day, hours] of [
        ["Europe/Berlin", "2026-03-29", 23],
        ["Europe/Berlin", "2026-10-25", 25],
        ["America/New_York", "2026-03-08", 23],
        ["America/New_York", "2026-11-01", 25],
      ] as const
    ) {
      const fired = (await firedAround(ctx, "0 * * * *", timezone, day)).map(Date.parse);
      assert.equal(fired.length, 72, `${timezone} ${day}: one per real hour of 72`);
      for (let i = 1; i < fired.length; i++) assert.equal(fired[i] - fired[i - 1], HOUR);
      const onDay = fired.filter((t) => local(new Date(t).toISOString(), timezone).startsWith(day));
      assert.equal(onDay.length, hours, `${timezone} ${day} has ${hours} real hours`);
    }
  },
);

backendTest(
  "a WorkerPool fires the schedules of its tasks (each Web Worker's loop tries), once per slot",
  async (ctx) => {
    const { WorkerPool } = await import("../mod.ts");
    const queue = new JobQueue(ctx.target, ctx.options);
    const info = await queue.schedule({ name: "pooled", cron: "* * * * * *", task: "noop" });
    const pool = new WorkerPool(ctx.target, {
      ...ctx.options,
      tasks: [new URL("./_tasks.ts", import.meta.url)],
      workers: 2,
      pollInterval: 1,
      logger: () => {},
    });
    const running = pool.start();
    try {
      await eventually(async () => (await queue.stats()).completed >= 3);
    } finally {
      pool.stop();
      await running;
      pool.close();
    }
    await queue.unschedule("pooled");
    const slots = (await jobsOf(queue, "pooled")).map((j) => Date.parse(j.runAt));
    assert.equal(new Set(slots).size, slots.length, "no slot fired twice");
    assert.equal(slots[0], Date.parse(info.nextRunAt!));
    for (let i = 1; i < slots.length; i++) assert.equal(slots[i] - slots[i - 1], 1000);
    queue.close();
  },
);

/** Runs `sql` on the test's storage (its tables unqualified; PostgreSQL's in the test schema). */
async function exec(ctx: BackendContext, sql: string): Promise<void> {
  if (ctx.backend === "postgres") {
    await withPostgres(ctx.target, async (pg, schema) => {
      await pg.unsafe(`SET search_path TO "${schema}"; ${sql}`);
    });
    return;
  }
  getConnection(ctx.target, ctx.options).exec(sql);
}

backendTest(
  "a schedule that cannot fire is logged and tried again; other schedules and the claims go on",
  async (ctx) => {
    const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
    const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
    await queue.schedule({ name: "broken", cron: "* * * * *", task: report });
    await queue.schedule({ name: "fine", cron: "* * * * *", task: report });
    // Options no Job takes (as a newer GigQ might have stored): its jobs cannot be made.
    await exec(ctx, `UPDATE gigq_schedules SET options = '{"priority":1.5}' WHERE name = 'broken'`);
    const w = worker(ctx, clock);
    const stop = await started(w);
    await clock.tick(MINUTE);
    const plain = await report.submit(queue, { kind: "plain" });
    await clock.tick(1000);
    await eventually(async () => (await queue.getStatus(plain))?.status === "completed");
    assert.deepEqual((await jobsOf(queue, "fine")).map((j) => j.runAt), [
      "2026-01-01T12:01:00.000Z",
    ]);
    assert.deepEqual(await jobsOf(queue, "broken"), []);
    const errors = logs.get(w)!.filter((l) => /could not fire schedule "broken"/.test(l));
    assert.ok(errors.length >= 1, logs.get(w)!.join("\n"));
    assert.match(errors[0], /priority must be a whole number.*; retrying in \d+ ms$/);
    // Mended, it fires at the next try: its slot, 2 s late, is still on time.
    await exec(ctx, `UPDATE gigq_schedules SET options = '{"priority":2}' WHERE name = 'broken'`);
    await clock.tick(1000);
    await eventually(async () => (await jobsOf(queue, "broken")).length === 1);
    const [mended] = await jobsOf(queue, "broken");
    assert.deepEqual([mended.runAt, mended.priority], ["2026-01-01T12:01:00.000Z", 2]);
    await stop();
    queue.close();
  },
);
