/**
 * Error texts have a size limit: a thrown message or stack is stored cut to
 * 64 KiB (on a character boundary, marked as cut), and values that messages
 * repeat (ids, names, keys, described values) are cut to a few hundred
 * characters.
 */
import assert from "node:assert/strict";
import { closeConnections, Job, JobNotFoundError, JobQueue, task, Worker } from "../mod.ts";
import { main } from "../src/cli/main.ts";
import { capBytes, errorText, MAX_ERROR_BYTES } from "../src/_error_text.ts";
import { driverTest, tempDb } from "./_helpers.ts";

const echo = task("echo", (p: unknown) => p);
const quiet = () => {};
const LIMIT = 65_536;
const bytes = (text: string) => new TextEncoder().encode(text).length;

/** Asserts `stored` is `original` cut to the limit, on a character boundary, with the marker. */
function assertCut(stored: string, original: string, label: string): void {
  const total = bytes(original);
  assert.ok(bytes(stored) <= LIMIT, `${label}: ${bytes(stored)} bytes stored`);
  assert.ok(bytes(stored) > LIMIT - 8, `${label}: cut too short (${bytes(stored)} bytes)`);
  const marker = `… [cut: ${total} bytes in all]`;
  assert.ok(stored.endsWith(marker), `${label}: ends ${JSON.stringify(stored.slice(-60))}`);
  const kept = stored.slice(0, -marker.length);
  assert.ok(original.startsWith(kept), `${label}: the kept part is the start of the original`);
  assert.ok(stored.isWellFormed(), `${label}: no half character`);
}

driverTest(
  "a thrown 5 MB message is stored cut to 64 KiB, on the job and on its attempt, marked as cut",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    // "é" is 2 bytes and "😀" 4: a cut at 64 KiB falls inside a character
    // unless it is made on a boundary.
    const huge = "a" + "é😀".repeat(5 * 1024 * 1024 / 6);
    const thrown: [string, () => unknown, string][] = [
      ["an Error", () => new Error(huge), huge],
      ["a TypeError", () => new TypeError(huge), `TypeError: ${huge}`],
      ["a string", () => huge, huge],
      ["an object", () => ({ why: huge }), JSON.stringify({ why: huge })],
    ];
    const fail = task("fail", (p: { i: number }) => {
      throw thrown[p.i][1]();
    }, { maxAttempts: 1 });
    const worker = new Worker(path, { tasks: [fail, echo], driver, logger: quiet });
    for (const [i, [label, , message]] of thrown.entries()) {
      const id = await fail.submit(queue, { i });
      assert.equal(await worker.processOne(), true);
      const job = await queue.getStatus(id);
      assert.equal(job?.status, "failed", label);
      assertCut(job!.error!, message, `${label}: job error`);
      const detail = job!.executions[0].error!;
      assert.ok(bytes(detail) <= LIMIT, `${label}: attempt error is ${bytes(detail)} bytes`);
      assert.match(detail, /… \[cut: \d+ bytes in all\]$/, `${label}: attempt error marked`);
      assert.ok(detail.isWellFormed(), `${label}: attempt error has no half character`);
    }
    // A short error is stored whole, stack included.
    const small = task("small", () => {
      throw new RangeError("just this");
    }, { maxAttempts: 1 });
    const w2 = new Worker(path, { tasks: [small], driver, logger: quiet });
    const id = await small.submit(queue, {});
    assert.equal(await w2.processOne(), true);
    const job = await queue.getStatus(id);
    assert.equal(job?.error, "RangeError: just this");
    assert.match(job!.executions[0].error!, /^RangeError: just this\n\s+at /);
    w2.close();
    worker.close();
    queue.close();
  },
);

/** Runs the CLI in this process with captured output. */
async function cli(args: string[]) {
  const out = { stdout: "", stderr: "" };
  const code = await main(args, {
    stdout: (t) => out.stdout += t,
    stderr: (t) => out.stderr += t,
    env: () => undefined,
    cwd: () => Deno.cwd(),
    isTerminal: false,
    onSignal: () => () => {},
    exit: () => {},
  });
  closeConnections();
  return { code, ...out };
}

driverTest(
  "ids, names, keys and values that messages repeat are cut to a few hundred characters",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await echo.submit(queue, "seed");
    const big = "x".repeat(1_000_000);
    const named = (name: string, value: unknown) => {
      const fn = () => value;
      Object.defineProperty(fn, "name", { value: name });
      return fn;
    };
    const Long = { [big]: class {} }[big];
    const cut = /… \[cut: \d+ characters in all\]/;
    const ways: [string, () => unknown, RegExp][] = [
      ["getResult of a long id", () => queue.getResult(big), /^Job "x+"… \[cut: 1000000 /],
      ["JobNotFoundError", () => {
        throw new JobNotFoundError(big);
      }, cut],
      [
        "a long dependency id",
        () => queue.submit(new Job({ task: echo, dependencies: [big] })),
        /dependencies\[0\] must be at most 200 characters, got 1000000$/,
      ],
      ["a long task name", () => task("n".repeat(1000) + big, () => 1), cut],
      [
        "a long job name, bad option",
        () => new Job({ task: echo, name: "n".repeat(1000), priority: 0.5 }),
        /^Cannot create job "n+"… \[cut: 1000 characters in all\]: priority must be/,
      ],
      ["a long unknown option", () => new Job({ task: echo, [big]: 1 } as never), cut],
      ["a long key in params", () => echo.submit(queue, { [big]: undefined }), cut],
      ["a long symbol in params", () => echo.submit(queue, { s: Symbol(big) }), cut],
      ["a long function name in params", () => echo.submit(queue, { f: named(big, 1) }), cut],
      ["a long class name in params", () => echo.submit(queue, { c: new Long() }), cut],
      ["a long BigInt in params", () => echo.submit(queue, { b: 10n ** 100_000n }), cut],
      ["a long unknown task option", () => echo.toJob(1, { [big]: 1 } as never), cut],
    ];
    for (const [label, fn, expected] of ways) {
      let message = "";
      try {
        await fn();
      } catch (error) {
        message = (error as Error).message;
      }
      assert.ok(message !== "", `${label}: nothing was thrown`);
      assert.ok(message.length <= 600, `${label}: ${message.length} characters`);
      assert.match(message, expected, label);
    }
    assert.equal((await queue.stats()).total, 1);
    queue.close();
    closeConnections();

    for (const command of ["status", "cancel", "requeue"]) {
      const r = await cli(["--db", path, "--driver", driver, command, big]);
      assert.equal(r.code, 1, `${command}: ${r.stderr.slice(0, 200)}`);
      assert.ok(r.stderr.length <= 600, `${command}: ${r.stderr.length} characters`);
      assert.match(r.stderr, /… \[cut: 1000000 characters in all\]/, command);
    }
  },
);

Deno.test("the CLI's error for a long dependency id is one short line", async () => {
  const db = await tempDb();
  try {
    const r = await cli([
      "--db",
      db.path,
      "submit",
      `${new URL("./cli/_tasks.ts", import.meta.url).pathname}#echo`,
      "--depends-on",
      "d".repeat(1_000_000),
    ]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.length <= 600, `${r.stderr.length} characters`);
    assert.match(r.stderr, /dependencies\[0\] must be at most 200 characters, got 1000000\n$/);
  } finally {
    await db.cleanup();
  }
});

Deno.test("capBytes keeps a text of exactly 64 KiB and cuts one byte more on a boundary", () => {
  assert.equal(MAX_ERROR_BYTES, LIMIT);
  const exact = "é".repeat(LIMIT / 2);
  assert.equal(capBytes(exact), exact);
  const over = exact + "a";
  const cut = capBytes(over);
  assertCut(cut, over, "one byte over");
  // Every way a 4-byte character can straddle the cut.
  for (let pad = 0; pad < 4; pad++) {
    const text = "a".repeat(pad) + "😀".repeat(LIMIT / 4 + 10);
    assertCut(capBytes(text), text, `pad ${pad}`);
  }
  assert.equal(capBytes("short", 10), "short");
  // The marker is 27 bytes ("…" is 3): 13 bytes of the text fit with it in 40.
  assert.equal(capBytes("x".repeat(100), 40), "xxxxxxxxxxxxx… [cut: 100 bytes in all]");
});

Deno.test("errorText names the error, keeps the stack as detail, and makes both well-formed", () => {
  const e = new TypeError("bad \uD800 half");
  const { message, detail } = errorText(e);
  assert.equal(message, "TypeError: bad \uFFFD half");
  assert.match(detail, /^TypeError: bad \uFFFD half\n\s+at /);
  assert.deepEqual(errorText("plain"), { message: "plain", detail: "plain" });
  assert.deepEqual(errorText({ a: 1 }), { message: '{"a":1}', detail: '{"a":1}' });
  assert.deepEqual(errorText(undefined), { message: "undefined", detail: "undefined" });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.deepEqual(errorText(cyclic), { message: "an object", detail: "an object" });
  const nameless = new Error("");
  assert.equal(errorText(nameless).message, "Error");
});
