import assert from "node:assert/strict";
import {
  type CompletedEventDetail,
  type FailedEventDetail,
  type JobEventDetail,
  JobQueue,
  NoRetryError,
  type RetryEventDetail,
  task,
  Worker,
  type WorkerEventMap,
  type WorkerOptions,
  WorkerPool,
} from "../mod.ts";
import { FakeClock, until } from "./_helpers.ts";
import { backendTest } from "./_backends.ts";
import { noop, refuse, vanish } from "./_tasks.ts";

const TYPES = ["claimed", "completed", "retry", "failed", "timeout"] as const;
type Seen = [string, Record<string, unknown>];

/** Records every lifecycle event of `target` as [type, detail]. */
function record(target: Worker | WorkerPool): Seen[] {
  const seen: Seen[] = [];
  for (const type of TYPES) {
    target.addEventListener(type, (e) => seen.push([e.type, { ...(e as CustomEvent).detail }]));
  }
  return seen;
}

backendTest(
  "a Worker dispatches claimed, then completed, retry, failed or timeout once each attempt is written",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const echo = task("echo", (p: { v: number }) => ({ got: p.v }));
    const flaky = task("flaky", (_p: unknown, ctx) => {
      throw new Error(`attempt ${ctx.attempt} broke`);
    }, { maxAttempts: 2 });
    const bounce = task("bounce", () => {
      throw new NoRetryError("bounced");
    }, { maxAttempts: 5 });
    let started = 0;
    const slow = task("slow", (_p: unknown, ctx) => {
      started++;
      return new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
      });
    }, { timeout: 1, maxAttempts: 2 });
    const worker = new Worker(target, {
      ...options,
      clock,
      tasks: [echo, flaky, bounce, slow],
      workerId: "w1",
      logger: () => {},
    } as WorkerOptions);
    const seen = record(worker);
    // A completed listener sees the job completed: its outcome is written first.
    const statuses: Promise<string | undefined>[] = [];
    worker.addEventListener("completed", (e) => {
      statuses.push(queue.getStatus(e.detail.id).then((j) => j?.status));
    });
    const base = (id: string, name: string, attempt: number, maxAttempts: number) => ({
      id,
      name,
      queue: "default",
      attempt,
      maxAttempts,
      workerId: "w1",
    });

    const e = await echo.submit(queue, { v: 7 });
    assert.equal(await worker.processOne(), true);
    assert.deepEqual(seen, [
      ["claimed", base(e, "echo", 1, 3)],
      ["completed", { ...base(e, "echo", 1, 3), result: { got: 7 } }],
    ]);
    assert.deepEqual(await Promise.all(statuses), ["completed"]);

    seen.length = 0;
    const f = await flaky.submit(queue, {});
    await worker.processOne();
    await worker.processOne();
    assert.deepEqual(seen, [
      ["claimed", base(f, "flaky", 1, 2)],
      ["retry", { ...base(f, "flaky", 1, 2), error: "attempt 1 broke", timedOut: false }],
      ["claimed", base(f, "flaky", 2, 2)],
      ["failed", { ...base(f, "flaky", 2, 2), error: "attempt 2 broke" }],
    ]);

    // A NoRetryError: "failed" at attempt 1 of 5, which is how a listener tells it.
    seen.length = 0;
    const b = await bounce.submit(queue, {});
    await worker.processOne();
    assert.deepEqual(seen, [
      ["claimed", base(b, "bounce", 1, 5)],
      ["failed", { ...base(b, "bounce", 1, 5), error: "NoRetryError: bounced" }],
    ]);

    seen.length = 0;
    const s = await slow.submit(queue, {});
    for (let i = 1; i <= 2; i++) {
      const running = worker.processOne();
      // Its handler runs (so its deadline is set) before the clock moves.
      await until(() => started === i);
      await clock.tick(1000);
      await running;
    }
    const timedOut = "Job timed out after 1 seconds";
    assert.deepEqual(seen, [
      ["claimed", base(s, "slow", 1, 2)],
      ["retry", { ...base(s, "slow", 1, 2), error: timedOut, timedOut: true }],
      ["claimed", base(s, "slow", 2, 2)],
      ["timeout", { ...base(s, "slow", 2, 2), error: timedOut }],
    ]);
    worker.close();
    queue.close();
  },
);

backendTest(
  "a listener that throws or rejects is logged and the worker loop goes on",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const echo = task("echo", (p: unknown) => p);
    const logs: string[] = [];
    const worker = new Worker(target, {
      ...options,
      tasks: [echo],
      workerId: "w2",
      pollInterval: 0.05,
      logger: (level, m) => logs.push(`${level} ${m}`),
    } as WorkerOptions);
    // EventTarget reports a listener's throw to globalThis: none may get there.
    let reported = 0;
    const onError = (e: Event) => {
      reported++;
      e.preventDefault();
    };
    globalThis.addEventListener("error", onError);
    const onRejection = (e: Event) => {
      reported++;
      e.preventDefault();
    };
    globalThis.addEventListener("unhandledrejection", onRejection);
    try {
      worker.addEventListener("claimed", () => {
        throw new TypeError("listener bug");
      });
      worker.addEventListener("completed", () => Promise.reject(new Error("async bug")));
      const objectListener = {
        handleEvent(_e: WorkerEventMap["completed"]) {
          throw "a string";
        },
      };
      worker.addEventListener("completed", objectListener);
      let later = 0;
      worker.addEventListener("completed", () => later++);
      const ids = await queue.submitMany([echo.toJob(1), echo.toJob(2), echo.toJob(3)]);
      const done = worker.start();
      await until(async () => (await queue.stats()).completed === 3);
      await until(() => logs.filter((l) => /async bug/.test(l)).length === 3);
      worker.stop();
      await done;
      assert.equal(later, 3, "the listeners after a failing one still run");
      for (const id of ids) assert.equal((await queue.getStatus(id))?.status, "completed");
      const listenerLines = logs.filter((l) => / event listener threw/.test(l));
      assert.equal(
        listenerLines.filter((l) =>
          l === 'error worker w2: a "claimed" event listener threw: TypeError: listener bug'
        ).length,
        3,
        logs.join("\n"),
      );
      assert.equal(
        listenerLines.filter((l) =>
          l === 'error worker w2: a "completed" event listener threw: Error: async bug'
        ).length,
        3,
      );
      assert.equal(
        listenerLines.filter((l) =>
          l === 'error worker w2: a "completed" event listener threw: a string'
        ).length,
        3,
      );
      assert.equal(reported, 0, "nothing reached globalThis");
    } finally {
      globalThis.removeEventListener("error", onError);
      globalThis.removeEventListener("unhandledrejection", onRejection);
      worker.close();
      queue.close();
    }
  },
);

backendTest(
  "removeEventListener, once and signal work through the listener wrapper",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const echo = task("echo", (p: unknown) => p);
    const worker = new Worker(target, { ...options, tasks: [echo], logger: () => {} });
    const claimed: string[] = [];
    const onClaim = (e: WorkerEventMap["claimed"]) => claimed.push(e.detail.id);
    const once: string[] = [];
    const aborted: string[] = [];
    const stop = new AbortController();
    worker.addEventListener("claimed", onClaim);
    worker.addEventListener("claimed", onClaim); // the same listener twice counts once
    worker.addEventListener("completed", (e) => once.push(e.detail.id), { once: true });
    worker.addEventListener("completed", (e) => aborted.push(e.detail.id), {
      signal: stop.signal,
    });
    const a = await echo.submit(queue, 1);
    await worker.processOne();
    stop.abort();
    worker.removeEventListener("claimed", onClaim);
    await echo.submit(queue, 2);
    await worker.processOne();
    assert.deepEqual(claimed, [a]);
    assert.deepEqual(once, [a]);
    assert.deepEqual(aborted, [a]);
    worker.close();
    queue.close();
  },
);

backendTest(
  "a WorkerPool re-dispatches its Web Workers' events, and those of attempts it settles itself",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const logs: string[] = [];
    const pool = new WorkerPool(target, {
      ...options,
      tasks: [new URL("./_tasks.ts", import.meta.url)],
      workers: 2,
      workerId: "evpool",
      pollInterval: 0.1,
      logger: (level, m) => logs.push(`${level} ${m}`),
    });
    const seen = record(pool);
    pool.addEventListener("claimed", () => {
      throw new Error("pool listener bug");
    });
    const done = pool.start();
    try {
      await pool.ready;
      const n = await noop.submit(queue, { n: 5 });
      const r = await refuse.submit(queue, { why: "gone" });
      const v = await vanish.submit(queue, { how: "exit" });
      await until(async () => {
        const st = await queue.stats();
        return st.completed === 2 && st.failed === 1;
      }, 10_000_000);
      await until(() => seen.filter(([t]) => t === "completed").length === 2, 10_000_000);
      const ids = new Set(["evpool-0", "evpool-1", "evpool-0.2", "evpool-1.2", "evpool-0.3"]);
      for (const [, d] of seen) assert.ok(ids.has(d.workerId as string), String(d.workerId));
      const of = (id: string) =>
        seen.filter(([, d]) => d.id === id).map(([t, d]) => [t, d.attempt]);
      assert.deepEqual(of(n), [["claimed", 1], ["completed", 1]]);
      assert.deepEqual(of(r), [["claimed", 1], ["failed", 1]]);
      // Its Web Worker exited mid-attempt: the pool settled the attempt and says so.
      assert.deepEqual(of(v), [["claimed", 1], ["retry", 1], ["claimed", 2], ["completed", 2]]);
      const detail = (type: string, id: string) =>
        seen.find(([t, d]) => t === type && d.id === id)![1];
      assert.equal(detail("completed", n).result, 5);
      assert.equal(detail("completed", v).result, "survived");
      assert.deepEqual(
        [detail("failed", r).error, detail("failed", r).maxAttempts, detail("failed", r).queue],
        ["NoRetryError: gone", 5, "default"],
      );
      assert.match(detail("retry", v).error as string, /^Web Worker evpool-\d exited/);
      assert.equal(detail("retry", v).timedOut, false);
      assert.equal((await queue.getStatus(r))?.attempts, 1);
      assert.ok(
        logs.some((l) =>
          l === 'error worker pool: a "claimed" event listener threw: Error: pool listener bug'
        ),
        logs.join("\n"),
      );
    } finally {
      await pool.stop();
      await done;
      queue.close();
    }
  },
);

// Compile-time: the details are typed.
export function _typed(worker: Worker): void {
  worker.addEventListener("completed", (e) => {
    const d: CompletedEventDetail = e.detail;
    void d.result;
  });
  worker.addEventListener("failed", (e) => {
    const d: FailedEventDetail = e.detail;
    void d.error;
  });
  worker.addEventListener("retry", (e) => {
    const d: RetryEventDetail = e.detail;
    void d.timedOut;
  });
  worker.addEventListener("claimed", (e) => {
    const d: JobEventDetail = e.detail;
    void d.workerId;
  });
}
