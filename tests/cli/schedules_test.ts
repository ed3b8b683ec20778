/**
 * `gigq schedules`: list, add (or update) and remove cron schedules, on
 * every backend; bad command lines exit 2 with one line before anything is
 * opened; removing an unknown schedule exits 1.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { JobQueue } from "../../mod.ts";
import { formatTable, formatTime } from "../../src/cli/_format.ts";
import { type BackendContext, backendTest, schemaExists } from "../_backends.ts";
import { cli, ok, TASKS } from "./_cli.ts";

/** `--db` (and `--driver`) for the test's backend. */
const dbArgs = ({ target, driver }: BackendContext) =>
  driver === undefined ? ["--db", target] : ["--db", target, "--driver", driver];

backendTest(
  "schedules add stores a schedule (a task name or MODULE#EXPORT), schedules lists it, remove removes it",
  async (ctx) => {
    const d = dbArgs(ctx);
    const added = JSON.parse(
      await ok([
        ...d,
        "schedules",
        "add",
        "nightly-report",
        "--cron",
        "0 1 * * *",
        "--timezone",
        "Europe/Berlin",
        "--task",
        `${TASKS}#echo`,
        "--params",
        '{"kind":"sales","n":1}',
        "-p",
        "n=2",
        "--queue",
        "reports",
        "--priority",
        "5",
        "--max-attempts",
        "2",
        "--timeout",
        "60",
        "--retry-delay",
        "3",
        "--backoff",
        "exponential",
        "--max-retry-delay",
        "30",
        "--description",
        "every night",
        "--missed",
        "all",
        "--json",
      ]),
    );
    assert.deepEqual(
      { ...added, nextRunAt: undefined, createdAt: undefined, updatedAt: undefined },
      {
        name: "nightly-report",
        cron: "0 1 * * *",
        timezone: "Europe/Berlin",
        task: "echo",
        module: `${TASKS}#echo`,
        params: { kind: "sales", n: 2 },
        queue: "reports",
        priority: 5,
        maxAttempts: 2,
        timeout: 60,
        retryDelay: 3,
        backoff: "exponential",
        maxRetryDelay: 30,
        description: "every night",
        missed: "all",
        paused: false,
        nextRunAt: undefined,
        lastRunAt: null,
        createdAt: undefined,
        updatedAt: undefined,
      },
    );
    // 01:00 in Berlin is 00:00 or 23:00 UTC.
    assert.match(added.nextRunAt, /T(00|23):00:00\.000Z$/);
    assert.ok(Date.parse(added.nextRunAt) > Date.now());

    const human = await ok([
      ...d,
      "schedules",
      "add",
      "tick",
      "--cron",
      "@hourly",
      "--task",
      "echo",
    ]);
    const queue = new JobQueue(ctx.target, ctx.options);
    const [, tick] = await queue.schedules();
    queue.close();
    assert.equal(
      human,
      `Schedule "tick" saved: "@hourly" (UTC), task echo, queue default; next run ${
        formatTime(tick.nextRunAt)
      }.\n`,
    );
    assert.deepEqual([tick.module, tick.params, tick.missed], [null, {}, "one"]);

    const listed = JSON.parse(await ok([...d, "schedules", "--json"]));
    assert.deepEqual(listed.map((s: { name: string }) => s.name), ["nightly-report", "tick"]);
    assert.deepEqual(listed[0], added);
    assert.equal(
      await ok([...d, "schedules"]),
      formatTable(
        [
          [
            "nightly-report",
            "0 1 * * *",
            "Europe/Berlin",
            "echo",
            "reports",
            formatTime(added.nextRunAt),
            "-",
            "all",
          ],
          ["tick", "@hourly", "UTC", "echo", "default", formatTime(tick.nextRunAt), "-", "one"],
        ],
        ["Name", "Cron", "Timezone", "Task", "Queue", "Next run", "Last run", "Missed"],
      ) + "\n",
    );

    // Added again paused: the row says so; the same cron keeps its next slot.
    const paused = JSON.parse(
      await ok([
        ...d,
        "schedules",
        "add",
        "tick",
        "--cron",
        "@hourly",
        "--task",
        "echo",
        "--paused",
        "--json",
      ]),
    );
    assert.equal(paused.paused, true);
    assert.equal(paused.nextRunAt, tick.nextRunAt);
    assert.match(
      await ok([...d, "schedules"]),
      /\| tick +\| @hourly +\| UTC +\| echo +\| default +\| paused +\|/,
    );
    assert.equal(
      await ok([
        ...d,
        "schedules",
        "add",
        "tick",
        "--cron",
        "@hourly",
        "--task",
        "echo",
        "--paused",
      ]),
      `Schedule "tick" saved: "@hourly" (UTC), task echo, queue default; paused.\n`,
    );

    assert.equal(await ok([...d, "schedules", "remove", "tick"]), `Schedule "tick" removed.\n`);
    assert.deepEqual(
      JSON.parse(await ok([...d, "schedules", "remove", "nightly-report", "--json"])),
      {
        name: "nightly-report",
        removed: true,
      },
    );
    assert.equal(await ok([...d, "schedules"]), "No schedules found.\n");
    assert.deepEqual(JSON.parse(await ok([...d, "schedules", "--json"])), []);
    const missing = await cli([...d, "schedules", "remove", "tick"]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `gigq schedules: no schedule named "tick"\n`);
  },
);

backendTest(
  "a bad schedules command line exits 2 with one line, before any database is opened",
  async (ctx) => {
    const target = ctx.backend === "postgres" ? ctx.target : `${ctx.dir}/never.db`;
    const d = ctx.driver === undefined
      ? ["--db", target]
      : ["--db", target, "--driver", ctx.driver];
    const add = ["schedules", "add", "x", "--cron", "0 1 * * *", "--task", "echo"];
    const bad: [string[], RegExp][] = [
      [
        ["schedules", "add", "x", "--cron", "61 1 * * *", "--task", "echo"],
        /^--cron "61 1 \* \* \*" is not valid: .*minute/,
      ],
      [
        ["schedules", "add", "x", "--cron", "sometimes", "--task", "echo"],
        /^--cron "sometimes" is not valid:/,
      ],
      [
        [...add, "--timezone", "Europe/Atlantis"],
        /^--timezone "Europe\/Atlantis" is not valid: .*IANA/,
      ],
      [["schedules", "add", "x", "--task", "echo"], /^missing --cron/],
      [["schedules", "add", "x", "--cron", "0 1 * * *"], /^missing --task/],
      [["schedules", "add", "--cron", "0 1 * * *", "--task", "echo"], /^missing NAME/],
      [
        ["schedules", "add", "", "--cron", "0 1 * * *", "--task", "echo"],
        /^NAME must be a schedule name/,
      ],
      [[...add, "--missed", "some"], /^--missed must be skip, one or all, got "some"/],
      [[...add, "--params", "{oops"], /^--params must be JSON, got "\{oops"/],
      [
        [...add, "--params", "[1]", "-p", "a=1"],
        /^-p KEY=VALUE needs --params to be a JSON object/,
      ],
      [[...add, "--priority", "high"], /^--priority must be a number, got "high"/],
      [[...add, "--priority", "1.5"], /priority must be a whole number .*got 1\.5/],
      [[...add, "--timeout", "0"], /timeout must be a number of seconds > 0/],
      [[...add, "--backoff", "linear"], /^--backoff must be "fixed" or "exponential"/],
      [[...add, "--queue", ""], /^--queue must be a queue name/],
      [[...add, "--colour", "red"], /^unknown option "--colour"/],
      [
        [...add.slice(0, 3), "--cron", "* * * * *", "--task", `${TASKS}#notATask`],
        /is 42, not a task made by task\(\)/,
      ],
      [
        ["schedules", "--cron", "0 1 * * *"],
        /^--cron is an option of gigq schedules add, not of the list/,
      ],
      [
        ["schedules", "remove", "x", "--task", "echo"],
        /^--task is an option of gigq schedules add, not of remove/,
      ],
      [["schedules", "remove"], /^missing NAME: gigq schedules remove NAME/],
      [["schedules", "rename", "x"], /^unknown action "rename"/],
      [["schedules", "remove", "x", "y"], /^unexpected argument "y"/],
    ];
    for (const [args, message] of bad) {
      const r = await cli([...d, ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.split("\n").length, 2, `one line: ${r.stderr}`);
      assert.match(r.stderr.replace(/^gigq schedules: /, ""), message, args.join(" "));
    }
    if (ctx.backend === "postgres") assert.equal(await schemaExists(target), false);
    else assert.equal(existsSync(target), false, "no database was created");
    // Listing or removing where there is no queue: exit 1, creating nothing.
    for (const args of [["schedules"], ["schedules", "remove", "x"]]) {
      const r = await cli([...d, ...args]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /no GigQ (database|queue) at/);
    }
    if (ctx.backend !== "postgres") assert.equal(existsSync(target), false);
  },
);

Deno.test("gigq schedules --help documents add and remove, and gigq --help lists it", async () => {
  const help = await ok(["schedules", "--help"]);
  for (
    const part of [
      "add NAME --cron EXPR --task TASK",
      "remove NAME",
      "--timezone TZ",
      "--missed RULE",
      "--paused",
    ]
  ) {
    assert.ok(help.includes(part), part);
  }
  assert.match(await ok(["--help"]), /^ {2}schedules +list the cron schedules/m);
});
