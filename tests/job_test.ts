import assert from "node:assert/strict";
import { Job, task } from "../mod.ts";
import { MAX_BACKOFF_SECONDS, retryDelaySeconds } from "../src/job.ts";

Deno.test("retryDelaySeconds(): exponential waits between half and all of the doubled delay", () => {
  // Attempt n doubles retryDelay n-1 times: d = 2, 4, 8, 16; the wait is d/2 + random × d/2.
  for (const [attempt, d] of [[1, 2], [2, 4], [3, 8], [4, 16]]) {
    assert.equal(retryDelaySeconds(2, "exponential", attempt, 86_400, () => 0), d / 2);
    assert.equal(retryDelaySeconds(2, "exponential", attempt, 86_400, () => 0.5), d * 0.75);
    assert.equal(retryDelaySeconds(2, "exponential", attempt, 86_400, () => 1), d);
  }
});

Deno.test("retryDelaySeconds(): maxRetryDelay caps the doubling, before the jitter", () => {
  // 2 × 2^9 = 1024 > 100: d = 100.
  assert.equal(retryDelaySeconds(2, "exponential", 10, 100, () => 1), 100);
  assert.equal(retryDelaySeconds(2, "exponential", 10, 100, () => 0), 50);
  assert.equal(retryDelaySeconds(2, "exponential", 10, 100, () => 0.5), 75);
  // A cap below retryDelay holds from the first retry.
  assert.equal(retryDelaySeconds(60, "exponential", 1, 10, () => 1), 10);
  // The default cap is one day, however many attempts (no overflow to Infinity).
  assert.equal(retryDelaySeconds(1, "exponential", 1_000_000, undefined, () => 1), 86_400);
  assert.equal(MAX_BACKOFF_SECONDS, 86_400);
  // A cap of 0: every retry is immediately ready.
  assert.equal(retryDelaySeconds(5, "exponential", 3, 0, () => 1), 0);
});

Deno.test("retryDelaySeconds(): the default random stays within the bounds", () => {
  for (let i = 0; i < 200; i++) {
    const wait = retryDelaySeconds(3, "exponential", 3);
    assert.ok(wait >= 6 && wait <= 12, `${wait} is within [6, 12]`);
  }
});

Deno.test("retryDelaySeconds(): a fixed backoff waits retryDelay, without jitter or cap", () => {
  for (const attempt of [1, 2, 10]) {
    assert.equal(retryDelaySeconds(5, "fixed", attempt, 86_400, () => 0), 5);
    assert.equal(retryDelaySeconds(5, "fixed", attempt, 86_400, () => 1), 5);
    assert.equal(retryDelaySeconds(200_000, "fixed", attempt, 10, () => 0), 200_000);
  }
  assert.equal(retryDelaySeconds(0, "exponential", 5, 86_400, () => 1), 0);
});

Deno.test("Job: maxRetryDelay defaults to one day and comes from the task or the job", () => {
  const t = task("t", () => null, { backoff: "exponential", maxRetryDelay: 600 });
  assert.equal(new Job({ task: "x" }).maxRetryDelay, 86_400);
  assert.equal(new Job({ task: t }).maxRetryDelay, 600);
  assert.equal(t.options.maxRetryDelay, 600);
  assert.equal(t.toJob({}, { maxRetryDelay: 30 }).maxRetryDelay, 30);
  assert.equal(new Job({ task: t, maxRetryDelay: 0 }).maxRetryDelay, 0);
});

Deno.test("Job and task() refuse a bad maxRetryDelay, naming it", () => {
  for (
    const [bad, kind] of [
      [-1, RangeError],
      [315_360_001, RangeError],
      [NaN, RangeError],
      [
        Infinity,
        RangeError,
      ],
      ["60", TypeError],
      [false, TypeError],
    ] as const
  ) {
    assert.throws(
      () => new Job({ task: "x", maxRetryDelay: bad as number }),
      (e: Error) =>
        e instanceof kind &&
        /Cannot create job "x": maxRetryDelay must be a number of seconds >= 0 and <= 315360000/
          .test(e.message),
    );
    assert.throws(
      () => task("t", () => null, { maxRetryDelay: bad as number }),
      (e: Error) =>
        e instanceof kind && /Cannot define task "t": maxRetryDelay must be/.test(e.message),
    );
  }
});

Deno.test("Job: a task object's defaults are checked whenever they could be wrong", () => {
  // Frozen, complete and valid (as task() makes them): jobs take them as they are.
  const t = task("t", () => null, { priority: 3, queue: "mail", timeout: 9 });
  for (let i = 0; i < 3; i++) {
    const job = new Job({ task: t });
    assert.deepEqual(
      [job.priority, job.queue, job.timeout, job.maxRetryDelay, job.backoff],
      [3, "mail", 9, 86_400, "fixed"],
    );
  }
  // A hand-made task reference, frozen but without maxRetryDelay: the default fills it, each time.
  const { maxRetryDelay: _, ...rest } = t.options;
  const partial = Object.freeze({ name: "p", options: Object.freeze(rest) as typeof t.options });
  for (let i = 0; i < 2; i++) {
    const job = new Job({ task: partial });
    assert.deepEqual([job.priority, job.maxRetryDelay, job.queue], [3, 86_400, "mail"]);
  }
  // Not frozen: a bad value written after a first job is still refused, naming it.
  const options = { ...t.options };
  const open = { name: "o", options };
  assert.equal(new Job({ task: open }).priority, 3);
  (options as { priority: unknown }).priority = 1.5;
  assert.throws(() => new Job({ task: open }), /priority/);
  // A job's own option is checked, and named with the job, whatever its task.
  assert.throws(
    () => new Job({ task: t, name: "mine", timeout: -1 }),
    (e: Error) =>
      e instanceof RangeError && e.message.includes('"mine"') && /timeout/.test(e.message),
  );
});

Deno.test("toJob() refuses an unknown option or options that are not an object, naming the task", () => {
  const t = task("resize", () => null);
  assert.throws(
    () => t.toJob({}, { bogus: 1 } as never),
    (e: Error) =>
      e instanceof TypeError &&
      e.message.startsWith('Cannot create job for task "resize": unknown option "bogus"; allowed:'),
  );
  assert.throws(
    () => t.toJob({}, null as never),
    /^TypeError: Cannot create job for task "resize": options must be an object, got null$/,
  );
});
