/**
 * The crash suite: jobs whose handler records a side effect keyed by job id
 * and run, processed by worker processes that are killed with SIGKILL at
 * random moments and restarted. At the end every job must be completed
 * exactly once, every run recorded once, the file sound (on PostgreSQL: the
 * schema's rows consistent), and every repeated side effect must belong to an
 * attempt that was abandoned (its worker killed), never to a second completion.
 *
 * Full size (`deno task chaos`): 20,000 jobs, 4 workers, at least 20 kills,
 * on a SQLite file in a temp directory; with `--db postgres://user@host:port/db`
 * in a fresh schema of that database (dropped afterwards unless `--keep`),
 * the workers given the same URL and recording their side effects in a table
 * of that schema.
 * Options: --db URL, --keep, --jobs N, --workers N, --kills N (at least), --lease SECONDS,
 * --concurrency N, --driver node|ffi (SQLite), --no-watch (workers only poll instead of
 * watching the WAL or LISTENing, the default), --seed N (or GIGQ_CHAOS_SEED).
 */
import { parseArgs } from "node:util";
import { closeConnections, Job, JobQueue } from "../../mod.ts";
import { closing } from "../../src/_closers.ts";
import {
  type Child,
  exited,
  freshSchema,
  inspect,
  integrity,
  isPostgres,
  killChildrenOnSignal,
  postgresTarget,
  Random,
  scalar,
  script,
  seedFrom,
  signal,
  sleep,
  spawnDeno,
  withSchema,
} from "./_common.ts";

/** What a chaos run is asked to do. */
export interface ChaosOptions {
  /**
   * The database file (its directory must exist), or a PostgreSQL URL with
   * `?schema=` naming a schema not yet made (the caller drops it after).
   */
  path: string;
  jobs: number;
  workers: number;
  /** Kill at least this many workers before the jobs run out. */
  minKills: number;
  /** Seconds. */
  lease: number;
  concurrency: number;
  /** Each handler waits a random time in this range (ms) after its side effect. */
  handlerMs: [number, number];
  driver: "node" | "ffi";
  watch: boolean;
  seed: number;
  /** Gives up (and fails) after this long, in ms. */
  limitMs: number;
  log: (line: string) => void;
}

/** What a chaos run measured. Every "bad" figure must be 0. */
export interface ChaosReport {
  seed: number;
  jobs: number;
  kills: number;
  /** Kills that interrupted at least one running attempt. */
  killsMidJob: number;
  /** Attempts abandoned by a killed worker (their lease expired). */
  abandoned: number;
  /** Side effects recorded more than once for a job (all by abandoned attempts). */
  repeatedEffects: number;
  completed: number;
  /** Jobs not completed at the end. */
  lost: number;
  /** Jobs with more than one completed execution. */
  doubleCompletions: number;
  /** Jobs whose runs and execution rows disagree. */
  unrecordedRuns: number;
  /** Side effects of a run that completed, beyond the one expected; or of no known run. */
  badEffects: number;
  /** Completed runs without their side effect. */
  missingEffects: number;
  /** Attempts abandoned by workers that were never killed (a live worker lost its lease). */
  liveLeaseLosses: number;
  /** Claims a worker heard of only after their lease lapsed, handed back unrun. */
  lateClaims: number;
  /** Non-completed executions that are not lease expiries or late claims (failures, other timeouts). */
  otherEndings: number;
  /** "ok": `PRAGMA integrity_check` on SQLite, consistency queries on PostgreSQL. */
  integrity: string;
  /** Error lines the workers printed (besides the expected warnings). */
  workerErrors: string[];
  seconds: number;
}

interface Slot {
  child: Child;
  id: string;
  ready: boolean;
}

/**
 * How the driver reads the queue while and after the workers run: the
 * SQLite file directly, or the PostgreSQL schema through a client of its own.
 */
interface Peek {
  /** One number from a query (tables unqualified: the queue's own). */
  n(sql: string): Promise<number>;
  rows<T>(sql: string): Promise<T[]>;
  /** Creates the table the workers record side effects in. */
  createEffects(): Promise<void>;
  /** "ok", or what is unsound: the file's integrity_check, or consistency queries on PostgreSQL. */
  soundness(): Promise<string>;
  close(): Promise<void>;
}

/** Rows that must not exist in a sound PostgreSQL queue schema, by what they would mean. */
const PG_CONSISTENCY: [string, string][] = [
  [
    "completed jobs without their result or completion time, or still leased",
    `SELECT count(*) FROM gigq_jobs WHERE status = 'completed'
      AND (result IS NULL OR completed_at IS NULL OR lease_until IS NOT NULL)`,
  ],
  [
    "running jobs without a worker or a lease",
    `SELECT count(*) FROM gigq_jobs WHERE status = 'running'
      AND (worker_id IS NULL OR lease_until IS NULL)`,
  ],
  ["jobs with more attempts than runs", `SELECT count(*) FROM gigq_jobs WHERE attempts > runs`],
  [
    "ended attempts of runs their job never had",
    `SELECT count(*) FROM gigq_attempts a JOIN gigq_jobs j ON j.seq = a.job
      WHERE a.run < 1 OR a.run > j.runs OR a.attempt < 1 OR a.attempt > a.run`,
  ],
  [
    "completed jobs whose completing run is also recorded as ended otherwise",
    `SELECT count(*) FROM gigq_attempts a JOIN gigq_jobs j ON j.seq = a.job
      WHERE j.status = 'completed' AND a.run = j.runs`,
  ],
  [
    "attempts of jobs that do not exist",
    `SELECT count(*) FROM gigq_attempts a
      WHERE NOT EXISTS (SELECT 1 FROM gigq_jobs j WHERE j.seq = a.job)`,
  ],
];

async function openPeek(target: string): Promise<Peek> {
  if (!isPostgres(target)) {
    const n = (sql: string) => Promise.resolve(inspect(target, (db) => Number(scalar(db, sql))));
    return {
      n,
      rows: <T>(sql: string) =>
        Promise.resolve(inspect(target, (db) => db.prepare(sql).all() as T[])),
      createEffects: () =>
        Promise.resolve(inspect(
          target,
          (db) =>
            db.exec(`CREATE TABLE effects (job_id TEXT NOT NULL, run INTEGER,
              attempt INTEGER NOT NULL, worker_id TEXT NOT NULL, at INTEGER NOT NULL)`),
        )),
      soundness: () => Promise.resolve(inspect(target, integrity)),
      close: () => Promise.resolve(),
    };
  }
  const { url, schema } = postgresTarget(target);
  const { default: postgres } = await import("npm:postgres@3");
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: `"${schema}"` },
  });
  const n = async (text: string) => Number(Object.values((await sql.unsafe(text))[0])[0]);
  return {
    n,
    rows: async <T>(text: string) => [...await sql.unsafe(text)] as T[],
    createEffects: async () => {
      await sql.unsafe(`CREATE TABLE effects (job_id text NOT NULL, run integer,
        attempt integer NOT NULL, worker_id text NOT NULL, at bigint NOT NULL)`);
    },
    soundness: async () => {
      const bad: string[] = [];
      for (const [what, query] of PG_CONSISTENCY) {
        const count = await n(query);
        if (count !== 0) bad.push(`${count} ${what}`);
      }
      return bad.length === 0 ? "ok" : bad.join("; ");
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/** Runs the crash suite; resolves to its figures (the caller asserts). */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const rnd = new Random(o.seed);
  const started = Date.now();
  const onPostgres = isPostgres(o.path);
  const queue = new JobQueue(o.path, onPostgres ? {} : { driver: o.driver });
  for (let i = 0; i < o.jobs; i += 5000) {
    const batch = [];
    for (let j = i; j < Math.min(o.jobs, i + 5000); j++) {
      batch.push(
        new Job({
          task: "effect",
          params: { ms: rnd.int(o.handlerMs[0], o.handlerMs[1]) },
          maxAttempts: 1000,
        }),
      );
    }
    await queue.submitMany(batch);
  }
  queue.close();
  closeConnections();
  await closing();
  const peek = await openPeek(o.path);
  try {
    await peek.createEffects();
    o.log(`chaos: ${o.jobs} jobs submitted (seed ${o.seed})`);
    return await drive(o, rnd, started, peek);
  } finally {
    await peek.close();
  }
}

async function drive(o: ChaosOptions, rnd: Random, started: number, peek: Peek) {
  const onPostgres = isPostgres(o.path);
  const killed = new Set<string>();
  const workerErrors: string[] = [];
  let generation = 0;
  const start = (n: number): Slot => {
    const id = `chaos-${n}-${generation++}`;
    const args = [
      "run",
      "--allow-read",
      "--allow-write",
      ...(onPostgres ? ["--allow-net", "--allow-env"] : []),
      ...(o.driver === "ffi" && !onPostgres ? ["--allow-ffi"] : []),
      script("_worker.ts"),
      "--db",
      o.path,
      "--id",
      id,
      "--lease",
      String(o.lease),
      "--concurrency",
      String(o.concurrency),
      "--poll",
      "0.2",
      ...(onPostgres ? [] : ["--driver", o.driver]),
    ];
    if (o.watch) args.push("--watch");
    const slot: Slot = { child: spawnDeno(args), id, ready: false };
    slot.child.waitFor(/^ready /m).then(() => slot.ready = true, () => {});
    return slot;
  };
  const slots = Array.from({ length: o.workers }, (_, n) => start(n));
  const collect = (slot: Slot) => {
    for (const line of slot.child.stderr().split("\n")) {
      // A killed worker's late finish is expected; anything else is not.
      if (
        line.trim() === "" ||
        /finished after it timed out or was released|handed back unrun/.test(line)
      ) continue;
      workerErrors.push(`${slot.id}: ${line}`);
    }
  };

  let kills = 0;
  const completed = () => peek.n("SELECT count(*) FROM gigq_jobs WHERE status = 'completed'");
  // The first minKills kills are spread over the first 70% of the jobs (so
  // they happen however fast the machine is), each at a random moment after
  // its share is done; after that, one every 0.3-1.5 s until the end.
  let nextKillAt = 0;
  try {
    for (;;) {
      if (Date.now() - started > o.limitMs) {
        throw new Error(`chaos: not done after ${o.limitMs} ms (${await completed()} completed)`);
      }
      await sleep(rnd.int(10, 150));
      const done = await completed();
      if (done === o.jobs) break;
      const due = kills < o.minKills
        ? done >= ((kills + 1) * 0.7 * o.jobs) / (o.minKills + 1)
        : Date.now() >= nextKillAt;
      if (!due) continue;
      const candidates = slots.map((s, n) => [s, n] as const).filter(([s]) => s.ready);
      if (candidates.length === 0) continue;
      const [victim, n] = rnd.pick(candidates);
      signal(victim.child, "SIGKILL");
      await victim.child.done;
      killed.add(victim.id);
      collect(victim);
      kills++;
      slots[n] = start(n);
      if (kills >= o.minKills) nextKillAt = Date.now() + rnd.int(300, 1500);
      if (kills % 10 === 0) o.log(`chaos: ${kills} kills, ${done} of ${o.jobs} jobs completed`);
    }
  } finally {
    for (const slot of slots) signal(slot.child, "SIGTERM");
    for (const slot of slots) {
      try {
        await exited(slot.child, 60_000, `worker ${slot.id}`);
      } finally {
        collect(slot);
      }
    }
  }

  const n = peek.n;
  const completedRuns =
    `SELECT j.id AS job_id, e.run FROM gigq_executions e JOIN gigq_jobs j ON j.seq = e.job
    WHERE e.status = 'completed'`;
  const abandonedBy = await peek.rows<{ worker_id: string; n: number }>(
    `SELECT worker_id, count(*) AS n FROM gigq_executions
     WHERE status = 'timeout' AND error LIKE '%stopped renewing its lease%' GROUP BY worker_id`,
  );
  const figures = {
    completed: await n("SELECT count(*) FROM gigq_jobs WHERE status = 'completed'"),
    lost: await n(`SELECT count(*) FROM gigq_jobs WHERE status <> 'completed'`),
    doubleCompletions: await n(`SELECT count(*) FROM (SELECT job FROM gigq_executions
      WHERE status = 'completed' GROUP BY job HAVING count(*) > 1) AS d`),
    unrecordedRuns: await n(`SELECT count(*) FROM gigq_jobs j
      WHERE j.runs <> (SELECT count(*) FROM gigq_executions e WHERE e.job = j.seq)`),
    missingEffects: await n(`SELECT count(*) FROM (${completedRuns}) AS c
      WHERE NOT EXISTS (SELECT 1 FROM effects f WHERE f.job_id = c.job_id AND f.run = c.run)`),
    badEffects: await n(`SELECT count(*) FROM effects f
        WHERE f.run IS NULL
          OR NOT EXISTS (SELECT 1 FROM gigq_jobs j JOIN gigq_executions e ON e.job = j.seq
                         WHERE j.id = f.job_id AND e.run = f.run)`) +
      await n(`SELECT coalesce(sum(c - 1), 0) FROM (SELECT count(*) AS c FROM effects
        GROUP BY job_id, run HAVING count(*) > 1) AS r`),
    repeatedEffects: await n(`SELECT count(*) FROM effects f JOIN gigq_jobs j ON j.id = f.job_id
        JOIN gigq_executions e ON e.job = j.seq AND e.run = f.run WHERE e.status <> 'completed'`),
    abandoned: abandonedBy.reduce((a, r) => a + Number(r.n), 0),
    killsMidJob: abandonedBy.filter((r) => killed.has(r.worker_id)).length,
    liveLeaseLosses: abandonedBy.filter((r) => !killed.has(r.worker_id))
      .reduce((a, r) => a + Number(r.n), 0),
    lateClaims: await n(`SELECT count(*) FROM gigq_executions
      WHERE error LIKE '%handed back unrun%'`),
    otherEndings: await n(`SELECT count(*) FROM gigq_executions WHERE status <> 'completed'
      AND NOT (status = 'timeout' AND error LIKE '%stopped renewing its lease%')
      AND error NOT LIKE '%handed back unrun%'`),
    integrity: await peek.soundness(),
  };
  return {
    seed: o.seed,
    jobs: o.jobs,
    kills,
    ...figures,
    workerErrors,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

/** The figures that must be zero, by name. */
export function chaosProblems(r: ChaosReport, minKills: number): string[] {
  const problems: string[] = [];
  if (r.kills < minKills) problems.push(`only ${r.kills} kills (wanted ${minKills})`);
  for (
    const key of [
      "lost",
      "doubleCompletions",
      "unrecordedRuns",
      "badEffects",
      "missingEffects",
      "otherEndings",
    ] as const
  ) {
    if (r[key] !== 0) problems.push(`${key} = ${r[key]}`);
  }
  if (r.completed !== r.jobs) problems.push(`completed ${r.completed} of ${r.jobs}`);
  if (r.integrity !== "ok") problems.push(`integrity_check: ${r.integrity}`);
  if (r.workerErrors.length > 0) problems.push(`worker errors: ${r.workerErrors.join(" | ")}`);
  return problems;
}

/** One line of figures. */
export function chaosSummary(r: ChaosReport): string {
  return `chaos: ${r.jobs} jobs, ${r.kills} kills (${r.killsMidJob} mid-job), ` +
    `${r.abandoned} attempts abandoned, ${r.repeatedEffects} repeated side effects, ` +
    `completed ${r.completed}, lost ${r.lost}, double completions ${r.doubleCompletions}, ` +
    `unrecorded runs ${r.unrecordedRuns}, bad effects ${r.badEffects}, ` +
    `live lease losses ${r.liveLeaseLosses}, late claims ${r.lateClaims}, ${
      r.integrity === "ok" ? "sound" : `unsound (${r.integrity})`
    }, ${r.seconds} s ` +
    `(seed ${r.seed})`;
}

/** Drops a chaos run's PostgreSQL schema (`target` is the URL with its `?schema=`). */
export async function dropChaosSchema(target: string): Promise<void> {
  const { url, schema } = postgresTarget(target);
  const { default: postgres } = await import("npm:postgres@3");
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) {
  const a = parseArgs({
    args: Deno.args,
    options: {
      db: { type: "string" },
      keep: { type: "boolean", default: false },
      jobs: { type: "string", default: "20000" },
      workers: { type: "string", default: "4" },
      kills: { type: "string", default: "20" },
      lease: { type: "string", default: "2" },
      concurrency: { type: "string", default: "4" },
      driver: { type: "string", default: "node" },
      "no-watch": { type: "boolean", default: false },
      seed: { type: "string" },
    },
  }).values;
  if (a.db !== undefined && !isPostgres(a.db)) {
    console.error(`chaos: --db takes a postgres:// or postgresql:// URL, got ${a.db}`);
    Deno.exit(2);
  }
  if (a.db !== undefined && new URLSearchParams(a.db.split("?")[1] ?? "").has("schema")) {
    console.error(`chaos: --db must not name a schema (each run makes a fresh one), got ${a.db}`);
    Deno.exit(2);
  }
  const dir = await Deno.makeTempDir({ prefix: "gigq-chaos-" });
  killChildrenOnSignal(dir);
  const target = a.db === undefined
    ? `${dir}/chaos.db`
    : withSchema(postgresTarget(a.db).url, freshSchema("gigq_chaos"));
  if (a.db !== undefined) {
    console.log(`chaos: on ${target}${a.keep ? " (kept afterwards)" : ""}`);
  }
  const minKills = Number(a.kills);
  let failed = false;
  try {
    const report = await runChaos({
      path: target,
      jobs: Number(a.jobs),
      workers: Number(a.workers),
      minKills,
      lease: Number(a.lease),
      concurrency: Number(a.concurrency),
      handlerMs: [5, 40],
      driver: a.driver as "node" | "ffi",
      watch: !a["no-watch"],
      seed: a.seed === undefined ? seedFrom("GIGQ_CHAOS_SEED") : Number(a.seed),
      limitMs: 3_600_000,
      log: (line) => console.log(line),
    });
    console.log(chaosSummary(report));
    const problems = chaosProblems(report, minKills);
    if (problems.length > 0) {
      console.error(`FAILED: ${problems.join("; ")}`);
      failed = true;
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (a.db !== undefined && !a.keep) await dropChaosSchema(target);
  }
  Deno.exit(failed ? 1 : 0);
}
