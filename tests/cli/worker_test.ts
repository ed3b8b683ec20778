/** `gigq worker`'s log lines: one per failed or timed-out attempt, and with --verbose one per attempt. */
import assert from "node:assert/strict";
import { main } from "../../src/cli/main.ts";
import { driverTest } from "../_helpers.ts";
import { cli, ok, REPO, TASKS } from "./_cli.ts";

/** The lines of `stderr` about job `id` (a log line starts with the time and the level). */
function linesOf(stderr: string, id: string): string[] {
  return stderr.split("\n").filter((l) => l.includes(`job ${id} `));
}

const TIME = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`;

/** Waits, in real time, until `cond()` holds (a worker in a Web Worker takes a while). */
async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition never became true");
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const mode of [[], ["--in-process"]]) {
  const where = mode.length === 0 ? "in a supervised Web Worker" : "in process";
  driverTest(
    `gigq worker ${where} on a pipe logs one line per failed or timed-out attempt, none per completed one`,
    async ({ path, driver }) => {
      const d = ["--db", path, "--driver", driver];
      const submit = async (...args: string[]) =>
        JSON.parse(await ok([...d, "submit", ...args, "--json"])).id as string;
      const once = (...args: string[]) =>
        cli([...d, "worker", "--tasks", TASKS, "--once", ...mode, ...args]);

      const boom = await submit(`${TASKS}#boom`, "--max-attempts", "2", "--retry-delay", "0");
      let r = await once();
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(linesOf(r.stderr, boom).length, 1, r.stderr);
      assert.match(
        linesOf(r.stderr, boom)[0],
        new RegExp(`^${TIME} info job ${boom} \\(boom\\): attempt 1/2 failed, retrying: kaboom$`),
      );
      r = await once();
      assert.match(
        linesOf(r.stderr, boom).join("\n"),
        new RegExp(
          `^${TIME} info job ${boom} \\(boom\\): attempt 2/2 failed, no attempts left: kaboom$`,
        ),
      );

      const slow = await submit(`${TASKS}#slow`, "-p", "ms=20000", "--timeout", "0.2");
      r = await once();
      assert.match(
        linesOf(r.stderr, slow).join("\n"),
        new RegExp(
          `^${TIME} info job ${slow} \\(slow\\): attempt 1/3 timed out, retrying: Job timed ` +
            `out after 0.2 seconds$`,
        ),
      );
      await ok([...d, "cancel", slow]).catch(() => {}); // it may be running again: no matter

      const echo = await submit(`${TASKS}#echo`);
      r = await once();
      assert.equal(r.stdout, "Processed one job (completed).\n");
      assert.deepEqual(linesOf(r.stderr, echo), [], r.stderr);
    },
  );

  driverTest(
    `gigq worker ${where} --verbose also logs each completed attempt with its duration`,
    async ({ path, driver }) => {
      const d = ["--db", path, "--driver", driver];
      const id = JSON.parse(await ok([...d, "submit", `${TASKS}#echo`, "--json"])).id;
      const r = await cli([...d, "worker", "--tasks", TASKS, "--once", "--verbose", ...mode]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(linesOf(r.stderr, id).length, 1, r.stderr);
      assert.match(
        linesOf(r.stderr, id)[0],
        new RegExp(`^${TIME} debug job ${id} \\(echo\\): attempt 1/3 completed in \\d+ ms$`),
      );
    },
  );
}

Deno.test("gigq worker --help documents --verbose and the per-attempt lines", async () => {
  const help = await ok(["worker", "--help"]);
  assert.match(help, /^ {2}--verbose +also log each completed/m);
  assert.match(help, /a line for each failed or timed-out attempt/);
});

driverTest(
  "gigq worker on a terminal prints a failed attempt's line above the progress line",
  async ({ path, driver }) => {
    const d = ["--db", path, "--driver", driver];
    const id = JSON.parse(await ok([...d, "submit", `${TASKS}#boom`, "--json"])).id;
    let stderr = "";
    const stops: (() => void)[] = [];
    const run = main([...d, "worker", "--tasks", TASKS, "--polling-interval", "0.05"], {
      stdout: () => {},
      stderr: (t) => stderr += t,
      env: () => undefined,
      cwd: () => REPO,
      isTerminal: true,
      onSignal: (_signal, handler) => {
        stops.push(handler);
        return () => {};
      },
      exit: () => {},
    });
    await waitFor(() => /1 processed, 1 failed, [\d.]+ jobs\/s, 0 in flight/.test(stderr));
    stops[0]();
    assert.equal(await run, 0);
    const shown = stderr.replaceAll("\r\x1b[2K", "<redraw>");
    // The line clears the progress line, is written whole, and the progress line comes back.
    assert.match(
      shown,
      new RegExp(
        `<redraw>${TIME} info job ${id} \\(boom\\): attempt 1/1 failed, no attempts left: ` +
          `kaboom\n[^\n<]*in flight<redraw>`,
      ),
    );
    assert.doesNotMatch(shown, /in flight\n/);
  },
);
