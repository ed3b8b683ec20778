import assert from "node:assert/strict";

const BENCH = new URL("../bench/", import.meta.url);

async function run(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(script, BENCH).pathname, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("the benchmarks refuse bad flags in one line naming the value, exit 2", async () => {
  const cases: [string, string[], RegExp][] = [
    ["main.ts", ["--runs", "0"], /^--runs must be a positive integer, got "0"$/],
    ["main.ts", ["--driver", "sqlite"], /^--driver must be "node" or "ffi", got "sqlite"$/],
    ["main.ts", ["--backend", "mysql"], /^--backend must be "sqlite" or "postgres", got "mysql"$/],
    ["main.ts", ["--backend", ""], /^--backend must be "sqlite" or "postgres", got ""$/],
    [
      "main.ts",
      ["--backend", "postgres", "--driver", "node"],
      /^--driver applies to --backend sqlite only, got --driver "node" with --backend postgres$/,
    ],
    [
      "main.ts",
      ["--db", "postgres://u@h/db"],
      /^--db applies to --backend postgres only, got --db "postgres:\/\/u@h\/db"$/,
    ],
    [
      "main.ts",
      ["--backend", "postgres", "--db", "mysql://u@h/db"],
      /^--db must be a postgres:\/\/ or postgresql:\/\/ URL, got "mysql:\/\/u@h\/db"$/,
    ],
    ["main.ts", ["--only", "nothing"], /^--only: "nothing" names no group; the groups are /],
    ["main.ts", ["--bogus"], /^Unknown option '--bogus'/],
    ["latency.ts", ["ffi"], /^Unexpected argument 'ffi'/],
    ["latency.ts", ["--jobs", "1.5"], /^--jobs must be a positive integer, got "1.5"$/],
    ["latency.ts", ["--idle", ""], /^--idle must be a positive integer, got ""$/],
    ["retention.ts", ["--old", "0"], /^--old must be a positive integer, got "0"$/],
    ["retention.ts", ["--rate", "fast"], /^--rate must be a positive integer, got "fast"$/],
    ["retention.ts", ["--backend", "mysql"], /^--backend must be "sqlite" or "postgres"/],
    [
      "retention.ts",
      ["--backend", "postgres", "--driver", "ffi"],
      /^--driver applies to --backend sqlite only, got --driver "ffi" with --backend postgres$/,
    ],
    ["retention.ts", ["--url", "postgres://u@h/db"], /^--url applies to --backend postgres only/],
    ["dashboard_queries.ts", ["--jobs", "0"], /^--jobs must be a positive integer, got "0"$/],
    ["dashboard_queries.ts", ["--runs", "x"], /^--runs must be a positive integer, got "x"$/],
    [
      "dashboard_queries.ts",
      ["--backend", "postgres", "--driver", "ffi"],
      /^--driver applies to --backend sqlite only/,
    ],
  ];
  for (const [script, args, message] of cases) {
    const r = await run(script, args);
    const label = `${script} ${args.join(" ")}`;
    assert.equal(r.code, 2, `${label}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, `${label}: ${r.stderr}`);
    assert.match(lines[0], message, label);
    assert.match(lines[1], /^usage: deno task bench/, label);
    assert.equal(r.stdout, "", label);
  }
});

Deno.test("deno task bench --only connections --runs 1 prints the machine and a row per driver", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gigq-bench-test-" });
  try {
    const json = `${dir}/out.json`;
    const r = await run("main.ts", ["--only", "connections", "--runs", "1", "--json", json]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^GigQ benchmark: .*Deno \d+\.\d+\.\d+; SQLite /m);
    for (const driver of ["node", "ffi"]) {
      assert.match(r.stdout, new RegExp(`^\\| ${driver} +\\| submit, one JobQueue reused `, "m"));
      assert.match(r.stdout, new RegExp(`^${driver}: a new connection per submit costs `, "m"));
    }
    const written = JSON.parse(await Deno.readTextFile(json));
    assert.ok(JSON.stringify(written).includes("submit, new JobQueue (connection) per job"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task bench --only enqueue shows each enqueue case's ratio to the wide and the lean raw loop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gigq-bench-test-" });
  try {
    const json = `${dir}/out.json`;
    const r = await run("main.ts", ["--only", "enqueue", "--runs", "1", "--json", json]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| vs limit \| vs lean \|$/m);
    for (const driver of ["node", "ffi"]) {
      assert.match(r.stdout, new RegExp(`^\\| ${driver} +\\| raw lean: one insert per `, "m"));
      assert.match(r.stdout, new RegExp(`^\\| ${driver} +\\| raw lean: 1,000 inserts per `, "m"));
    }
    const written = JSON.parse(await Deno.readTextFile(json));
    const cases = written.results.filter((x: { case: string }) => !x.case.startsWith("raw"));
    assert.equal(cases.length, 4); // submit and submitMany, on each driver
    for (const c of cases) {
      assert.ok(c.ratio > 0, JSON.stringify(c));
      assert.ok(c.leanRatio > 0, JSON.stringify(c));
      assert.match(c.versus, /^raw: /);
      assert.match(c.leanVersus, /^raw lean: /);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench:dashboard times every dashboard query on a small seeded queue", async () => {
  const r = await run("dashboard_queries.ts", ["--jobs", "3000", "--runs", "1", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.jobs, 3000);
  for (
    const name of [
      "listJobs before (mid table)",
      "countJobs pending",
      "workers()",
      "activity() 60 min",
    ]
  ) {
    assert.ok(out.results[name]?.median >= 0, `${name}: ${r.stdout}`);
  }
  assert.match(r.stderr, /^seeded 3000 jobs in /m);
});

const POSTGRES_URL = Deno.env.get("GIGQ_TEST_POSTGRES_URL");

Deno.test({
  name:
    "deno task bench --backend postgres prints each case beside its raw loop, and drops its schemas",
  ignore: POSTGRES_URL === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "gigq-bench-test-" });
    try {
      const json = `${dir}/out.json`;
      const r = await run("main.ts", [
        "--backend",
        "postgres",
        "--db",
        POSTGRES_URL!,
        "--only",
        "enqueue one",
        "--runs",
        "1",
        "--json",
        json,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^GigQ benchmark: .*Deno \d+\.\d+\.\d+; PostgreSQL \d+/m);
      assert.match(r.stdout, /^\| postgres +\| raw: one INSERT per statement /m);
      assert.match(r.stdout, /^\| postgres +\| raw lean: one INSERT per statement /m);
      assert.match(
        r.stdout,
        /^\| postgres +\| await queue\.submit\(job\) .*\| \d+\.\d\d× +\| \d+\.\d\d× +\|$/m,
      );
      const written = JSON.parse(await Deno.readTextFile(json));
      const submit = written.results.find((x: { case: string }) => x.case.includes("submit"));
      assert.equal(submit.samples.length, 1);
      assert.ok(submit.ratio > 0);
      assert.ok(submit.leanRatio > 0);
      assert.match(submit.leanVersus, /^raw lean: /);
      // The run's schemas (named after its process) are gone.
      const { default: postgres } = await import("npm:postgres@3");
      const sql = postgres(POSTGRES_URL!, { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql.unsafe(
          `SELECT count(*)::int AS n FROM pg_namespace WHERE starts_with(nspname, $1)`,
          [written.schemas.replace(/\*$/, "")],
        );
        assert.equal(row.n, 0);
      } finally {
        await sql.end({ timeout: 1 });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task bench:retention prunes every old job while a worker runs, and reports latencies", async () => {
  const r = await run("retention.ts", [
    "--old",
    "600",
    "--baseline",
    "1",
    "--rate",
    "50",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.equal(result.backend, "sqlite (node)");
  assert.equal(result.pruned, 600);
  assert.equal(result.left, 0);
  assert.ok(result.pruneSeconds > 0);
  assert.ok(result.baseline.jobs > 0);
  // So few old jobs are pruned in moments: the phase may hold no job.
  for (const phase of [result.baseline, result.duringPruning]) {
    if (phase.jobs === 0) continue;
    assert.ok(phase.p50 <= phase.p99 && phase.p99 <= phase.max, JSON.stringify(phase));
  }
});
