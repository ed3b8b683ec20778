/**
 * The worker's attempt tracker on its own: what it says about a claim that
 * reached the worker late (a slow network) as against a handler that blocked
 * the event loop.
 */
import assert from "node:assert/strict";
import { task } from "../mod.ts";
import type { Claimed } from "../src/_backend.ts";
import { Attempts } from "../src/_attempts.ts";
import { FakeClock, settle } from "./_helpers.ts";

function claimed(startedAt: number, name: string): Claimed {
  return {
    seq: 1,
    id: "01900000-0000-7000-8000-000000000001",
    name,
    task: name,
    params: "{}",
    attempt: 1,
    maxAttempts: 3,
    timeout: 60,
    retryDelay: 0,
    backoff: "fixed",
    run: 1,
    children: 0,
    hasParents: false,
    priority: 0,
    runAt: startedAt,
    queue: "default",
    maxRetryDelay: 86_400,
    workerId: "w",
    startedAt,
    parentResults: undefined,
  };
}

function tracker(clock: FakeClock, tasks: ReturnType<typeof task>[]) {
  const logs: string[] = [];
  const stalls: number[] = [];
  const writes: [number, string | undefined][] = [];
  const attempts = new Attempts({
    tasks: new Map(tasks.map((t) => [t.name, t])),
    clock,
    leaseMs: 2000,
    graceMs: 5000,
    maxPayload: 1_000_000,
    log: (level, message) => logs.push(`${level} ${message}`),
    attemptLines: false,
    changed: () => {},
    onStall: (ms) => stalls.push(ms),
    writeProgress: (job) => writes.push([clock.now(), job.progress]),
  });
  return { attempts, logs, stalls, writes };
}

Deno.test(
  "a claim that reached the worker after its lease lapsed is handed back unrun, and is no event-loop stall",
  async () => {
    const clock = new FakeClock();
    let calls = 0;
    const quick = task("quick", () => ++calls);
    const { attempts, logs, stalls } = tracker(clock, [quick]);
    // Claimed (by the clock reading the claim was made with) 4.5 s ago: the reply was that slow.
    const entry = attempts.run(claimed(clock.now() - 4500, "quick"));
    await settle();
    assert.equal(calls, 0, "not run: another worker may have taken the job when its lease lapsed");
    assert.equal(entry.decided, true);
    const outcomes = attempts.take();
    assert.deepEqual(outcomes.map((o) => o.kind), ["released"]);
    assert.match(
      (outcomes[0] as { reason: string }).reason,
      /^Released: the claim reached worker w 4\.5 s after it was made, past its 2 s lease/,
    );
    assert.deepEqual(stalls, [], "no handler ran, let alone blocked the event loop");
    assert.ok(
      logs.some((l) =>
        l.startsWith("warn") && /\(quick\): the claim reached worker w 4\.5 s/.test(l)
      ),
      logs.join("\n"),
    );
    assert.equal(attempts.size, 0, "no slot held");
    assert.equal(attempts.undecided, 0);
    assert.equal(attempts.counts.processed, 0, "a released attempt is not counted");
  },
);

Deno.test("a claim that arrives within its lease runs", async () => {
  const clock = new FakeClock();
  const quick = task("quick", () => "ok");
  const { attempts, logs, stalls } = tracker(clock, [quick]);
  attempts.run(claimed(clock.now() - 1500, "quick"));
  await settle();
  assert.deepEqual(attempts.take().map((o) => o.kind), ["completed"]);
  assert.deepEqual(stalls, []);
  assert.deepEqual(logs, []);
});

Deno.test("a handler's own synchronous stretch longer than the lease is still a stall", async () => {
  const clock = new FakeClock();
  const busy = task("busy", () => {
    clock.jump(3000);
    return "done";
  });
  const { attempts, logs, stalls } = tracker(clock, [busy]);
  attempts.run(claimed(clock.now(), "busy"));
  await settle();
  assert.deepEqual(stalls, [3000]);
  assert.ok(!logs.some((l) => /reached this worker/.test(l)), logs.join("\n"));
});

Deno.test("progress is written at most every 250 ms, the latest value each time, and the last goes with the outcome", async () => {
  const clock = new FakeClock();
  const start = clock.now();
  let finish!: (v: string) => void;
  let ctxOf!: { progress(v: unknown): void };
  const long = task("long", (_p: unknown, ctx) => {
    ctxOf = ctx;
    return new Promise<string>((r) => finish = r);
  });
  const { attempts, writes } = tracker(clock, [long]);
  attempts.run(claimed(clock.now(), "long"));
  await settle();
  for (let i = 1; i <= 10; i++) ctxOf.progress(i * 10); // a burst
  assert.deepEqual(writes, [[start, "10"]], "the first at once, the rest wait their turn");
  await clock.tick(100);
  ctxOf.progress({ stage: "upload", done: 3 });
  await clock.tick(150);
  assert.deepEqual(writes, [[start, "10"], [start + 250, '{"stage":"upload","done":3}']]);
  ctxOf.progress(99);
  assert.throws(() => ctxOf.progress(() => 1), TypeError, "not JSON");
  finish("ok");
  await settle();
  const [outcome] = attempts.take();
  assert.equal(outcome.kind, "completed");
  assert.equal(outcome.job.progress, "99", "the last value goes with the outcome");
  await clock.tick(1000);
  assert.equal(writes.length, 2, "no write after the outcome");
  ctxOf.progress(100); // after the outcome: changes nothing
  assert.equal(outcome.job.progress, "99");
});
