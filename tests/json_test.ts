/**
 * Params and results at the edges of what JSON can carry: nesting deeper than
 * the documented limit, and text that is not well-formed Unicode (a lone
 * surrogate), in strings and in object keys.
 */
import assert from "node:assert/strict";
import { Job, JobQueue, task, Worker } from "../mod.ts";
import { dbHash, driverTest } from "./_helpers.ts";

const echo = task("echo", (p: unknown) => p);
const quiet = () => {};

/** `levels` arrays, one inside the other, around 1. */
function nestedArrays(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

/** `levels` objects, one inside the other (each under the key "a"), around "leaf". */
function nestedObjects(levels: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

driverTest(
  "params nested deeper than 1000 levels are refused naming the limit and the path; 1000 are stored",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await echo.submit(queue, "seed");
    const before = await dbHash(path);
    const cases: [string, unknown][] = [
      ["5,000 arrays", nestedArrays(5000)],
      ["100,000 arrays", nestedArrays(100_000)],
      ["5,000 objects", nestedObjects(5000)],
      ["1,001 objects", nestedObjects(1001)],
    ];
    for (const [label, params] of cases) {
      for (
        const [way, fn] of [
          ["submit", () => queue.submit(new Job({ task: echo, params }))],
          ["submitMany", () => queue.submitMany([echo.toJob(1), echo.toJob(params)])],
        ] as const
      ) {
        await assert.rejects(fn, (e: Error) => {
          assert.ok(e instanceof RangeError, `${way} of ${label}: ${e.name}: ${e.message}`);
          assert.match(e.message, /^Cannot submit job "echo": params is nested more than 1000 /);
          assert.match(e.message, /levels deep at params(\[0\]|\.a)/, `${way} of ${label}`);
          assert.match(e.message, /\(the limit is 1000 levels, MAX_JSON_DEPTH\)/);
          assert.ok(e.message.length < 600, `${way} of ${label}: ${e.message.length} characters`);
          return true;
        });
      }
    }
    assert.equal(await dbHash(path), before, "a refused submit wrote nothing");

    // Exactly at the limit: stored, and read back unchanged.
    const deepest = nestedObjects(1000);
    const id = await echo.submit(queue, deepest);
    assert.deepEqual((await queue.getStatus(id))?.params, deepest);
    const arrays = nestedArrays(1000);
    const id2 = await echo.submit(queue, arrays);
    assert.deepEqual((await queue.getStatus(id2))?.params, arrays);
    queue.close();
  },
);

driverTest(
  "a result nested deeper than 1000 levels fails its job at once, naming the limit; 1000 complete",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    let calls = 0;
    const deep = task("deep", (p: { levels: number; objects: boolean }) => {
      calls++;
      return p.objects ? nestedObjects(p.levels) : nestedArrays(p.levels);
    }, { maxAttempts: 3 });
    const worker = new Worker(path, { tasks: [deep, echo], driver, logger: quiet });
    for (const [levels, objects] of [[5000, false], [100_000, false], [1001, true]] as const) {
      const label = `${levels} ${objects ? "objects" : "arrays"}`;
      calls = 0;
      const bad = await deep.submit(queue, { levels, objects });
      const good = await echo.submit(queue, label);
      assert.equal(await worker.processOne(), true);
      assert.equal(await worker.processOne(), true);
      const job = await queue.getStatus(bad);
      assert.equal(job?.status, "failed", label);
      assert.equal(job?.attempts, 1, `${label}: not retried`);
      assert.equal(calls, 1, label);
      assert.match(
        job!.error!,
        /^RangeError: Task "deep" returned a bad result: result is nested more than 1000 levels deep at result(\[0\]|\.a)/,
        label,
      );
      assert.match(job!.error!, /\(the limit is 1000 levels, MAX_JSON_DEPTH\)/, label);
      assert.equal(await queue.getResult(good), label, `${label}: the next job still runs`);
    }
    const ok = await deep.submit(queue, { levels: 1000, objects: true });
    assert.equal(await worker.processOne(), true);
    assert.deepEqual(await queue.getResult(ok), nestedObjects(1000));
    worker.close();
    queue.close();
  },
);

/** Params with a lone surrogate somewhere, and how the error names where. */
const LONE: [string, unknown, RegExp][] = [
  ["a lone high surrogate", "\uD800", /params is a string that is not well-formed Unicode/],
  ["a lone low surrogate inside", { s: "ab\uDC00c" }, /params\.s is a string that is not/],
  [
    "a reversed pair in an array",
    { list: ["ok", "\uDE00\uD83D"] },
    /params\.list\[1\] is a string that is not well-formed Unicode/,
  ],
  ["a key", { "bad\uD800key": 1 }, /params has the key "bad\\ud800key", which is not well-formed/],
  [
    "a nested key",
    { outer: { "\uDFFF": true } },
    /params\.outer has the key "\\udfff", which is not well-formed Unicode/,
  ],
];

driverTest(
  "params with a lone surrogate in a string or a key are refused naming the key; pairs are kept",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await echo.submit(queue, "seed");
    const before = await dbHash(path);
    for (const [label, params, message] of LONE) {
      for (
        const [way, fn] of [
          ["submit", () => queue.submit(new Job({ task: echo, params }))],
          ["task.submit", () => echo.submit(queue, params)],
          ["submitMany", () => queue.submitMany([echo.toJob(1), echo.toJob(params)])],
        ] as const
      ) {
        await assert.rejects(fn, (e: Error) => {
          assert.ok(e instanceof TypeError, `${way} of ${label}: ${e.name}: ${e.message}`);
          assert.match(e.message, /^Cannot submit job "echo": /, `${way} of ${label}`);
          assert.match(e.message, message, `${way} of ${label}`);
          assert.match(e.message, /a lone surrogate/, `${way} of ${label}`);
          return true;
        });
      }
    }
    assert.equal(await dbHash(path), before, "a refused submit wrote nothing");
    const fine = { "ключ 😀": "emoji 😀 and 𝄞", s: "\uD83D\uDE00" };
    const id = await echo.submit(queue, fine);
    assert.deepEqual((await queue.getStatus(id))?.params, fine);
    queue.close();
  },
);

driverTest(
  "a result with a lone surrogate fails its attempt for good, naming where; the worker carries on",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    let calls = 0;
    const results: [string, unknown, RegExp][] = [
      ["in a string", { text: "half \uD83D" }, /result\.text is a string that is not well-formed/],
      ["in a key", { ["\uDC00"]: 1 }, /result has the key "\\udc00", which is not well-formed/],
    ];
    const lone = task("lone", (p: { i: number }) => {
      calls++;
      return results[p.i][1];
    }, { maxAttempts: 3 });
    const worker = new Worker(path, { tasks: [lone, echo], driver, logger: quiet });
    for (const [i, [label, , message]] of results.entries()) {
      calls = 0;
      const bad = await lone.submit(queue, { i });
      const good = await echo.submit(queue, label);
      assert.equal(await worker.processOne(), true);
      assert.equal(await worker.processOne(), true);
      const job = await queue.getStatus(bad);
      assert.equal(job?.status, "failed", label);
      assert.equal(job?.attempts, 1, `${label}: not retried`);
      assert.equal(calls, 1, label);
      assert.match(job!.error!, /^TypeError: Task "lone" returned a bad result: /, label);
      assert.match(job!.error!, message, label);
      assert.match(job!.error!, /a lone surrogate/, label);
      assert.ok(job!.error!.isWellFormed(), `${label}: the stored error is well-formed itself`);
      assert.equal(await queue.getResult(good), label, `${label}: the next job still runs`);
    }
    worker.close();
    queue.close();
  },
);

driverTest(
  "a value shared 2^22 times is refused by its size without being walked in full",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    let shared: unknown = "leaf";
    for (let i = 0; i < 22; i++) shared = [shared, shared];
    await assert.rejects(
      () => echo.submit(queue, shared),
      (e: Error) =>
        e instanceof RangeError &&
        /^Cannot submit job "echo": params is more than 1048576 bytes of JSON \(it holds more than 1048576 values\), over the limit of 1048576 bytes \(the maxPayloadBytes option\)$/
          .test(e.message),
    );
    // A cycle is still named as one under a small limit, where the size runs out first.
    const small = new JobQueue(path, { driver, maxPayloadBytes: 50 });
    const cyclic: Record<string, unknown> = { a: 1, b: [2, 3] };
    cyclic.self = cyclic;
    await assert.rejects(
      () => echo.submit(small, { top: cyclic }),
      (e: Error) =>
        e instanceof TypeError && /params\.top\.self refers back to itself/.test(e.message),
    );
    assert.equal((await queue.stats()).total, 0);
    small.close();
    queue.close();
  },
);

Deno.test(
  "names, descriptions, task names and modules with a lone surrogate are refused, naming the field",
  () => {
    const cases: [string, () => unknown, RegExp][] = [
      ["name", () => new Job({ task: echo, name: "a\uD800" }), /name must be well-formed/],
      ["task", () => new Job({ task: "t\uDC00" }), /task must be well-formed Unicode/],
      ["description", () => echo.toJob(1, { description: "\uD800" }), /description must be/],
      ["module", () => new Job({ task: echo, module: "./x\uDBFF.ts" }), /module must be/],
      ["task()", () => task("x\uD800", () => 1), /name must be well-formed Unicode/],
    ];
    for (const [label, fn, message] of cases) {
      assert.throws(fn, (e: Error) => {
        assert.ok(e instanceof RangeError, `${label}: ${e.name}: ${e.message}`);
        assert.match(e.message, message, label);
        assert.match(e.message, /a lone surrogate/, label);
        return true;
      });
    }
  },
);
