/**
 * Several hosts, one PostgreSQL database: worker processes in two network
 * namespaces (hostA, hostB), each joined to the root namespace by a veth
 * pair, reach a throwaway PostgreSQL cluster listening on the root-side veth
 * addresses (started for the run with initdb and pg_ctl as the `postgres`
 * user, in a temp directory; the system server is not touched).
 *
 * Phase 1: 5,000 jobs over both hosts, each completed exactly once (one side
 * effect per job, recorded in a table of the queue's schema). Phase 2: jobs
 * whose handler runs 4 s; once hostA runs some, its link is cut (`ip link set
 * DEV down` on the root side). Its leases lapse (lease 2 s), its jobs come
 * back and complete on hostB; then the link returns, hostA's handlers'
 * completions reach the database late and change nothing (the completion is
 * fenced by hostB's run), and hostA goes on to complete new jobs. Everything
 * (namespaces, veths, cluster) is removed in `finally`, even on failure.
 *
 *   deno task netns            (as root; `deno run --allow-all tests/reliability/netns.ts`)
 *
 * Needs root, `ip netns` and PostgreSQL's server binaries (GIGQ_PG_BIN, default
 * /usr/lib/postgresql/15/bin); without them it says why in one line and
 * exits 0 (the test ignores itself). Options: --jobs N (phase 1, default 5000).
 */
import { parseArgs } from "node:util";
import { closeConnections, Job, JobQueue } from "../../mod.ts";
import { closing } from "../../src/_closers.ts";
import { type Child, exited, script, signal, sleep, spawnCommand } from "./_common.ts";

/** What a run measured. The caller asserts. */
export interface NetnsReport {
  jobs: number;
  /** Jobs completed, all phases. */
  completed: number;
  /** Jobs completed by each host. */
  byHost: Record<string, number>;
  linkCuts: number;
  /** Jobs hostA was running when its link was cut. */
  cutJobs: number;
  /**
   * Jobs whose hostA attempt ended by a lapsed lease: those it ran at the cut
   * and any whose claim was on the wire then.
   */
  cameBack: number;
  /** Of the jobs hostA ran at the cut, how many came back. */
  cutCameBack: number;
  /** Of the jobs that came back, how many completed on hostB. */
  backOnB: number;
  /**
   * Jobs that came back by the end of the run: more than cameBack when hostA
   * lost a lease after the link returned (a renewal still stuck on a
   * connection that had not resumed yet).
   */
  allBack: number;
  /** Completions hostA's worker decided that the database did not take (fenced). */
  lateFenced: number;
  /** hostB's decided completions the database did not take (it never lost a lease: 0). */
  uncountedB: number;
  /** Jobs among the cut ones whose status, result or completing worker changed after the link returned. */
  changedByLate: number;
  /** Jobs hostA completed after the link returned. */
  afterRestore: number;
  lost: number;
  /** Jobs with more than one completed execution, or a run's side effect recorded twice. */
  double: number;
  /** Side effects of no known run, or completed runs without theirs. */
  badEffects: number;
  /**
   * Claims hostA heard of only after their lease lapsed (sent as the link
   * went down, answered after it returned), handed back unrun.
   */
  lateClaims: number;
  /** Attempts that ended other than by completion, a lapsed lease or a late claim handed back. */
  otherEndings: number;
  /** Seconds hostA's worker took to exit after SIGTERM. */
  stopSeconds: number;
  workerErrors: string[];
  seconds: number;
}

/** Why this machine cannot run the test, or undefined when it can. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return `not Linux (${Deno.build.os})`;
  if (Deno.uid() !== 0) return "not root";
  const bin = pgBin();
  try {
    await Deno.stat(`${bin}/initdb`);
    await Deno.stat(`${bin}/pg_ctl`);
  } catch {
    return `no PostgreSQL server binaries in ${bin} (set GIGQ_PG_BIN)`;
  }
  const probe = `gigq-probe-${rand()}`;
  try {
    const added = await run("ip", ["netns", "add", probe], true);
    if (!added.ok) return `ip netns add is not permitted here (${added.err.trim()})`;
    await run("ip", ["netns", "del", probe], true);
    const user = await run("id", ["-u", "postgres"], true);
    if (!user.ok) return "no postgres user to run a throwaway cluster";
    if (!(await run("runuser", ["--help"], true)).ok) return "no runuser";
  } catch (error) {
    return `cannot run ip, id or runuser (${(error as Error).message})`;
  }
  return undefined;
}

function pgBin(): string {
  return Deno.env.get("GIGQ_PG_BIN") ?? "/usr/lib/postgresql/15/bin";
}

function rand(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 6);
}

async function run(
  cmd: string,
  args: string[],
  quiet = false,
): Promise<{ ok: boolean; out: string; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const out = new TextDecoder().decode(r.stdout);
  const err = new TextDecoder().decode(r.stderr);
  if (!r.success && !quiet) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${err.trim()}`);
  }
  return { ok: r.success, out, err };
}

/** The network: two namespaces, each with a veth pair to the root namespace. */
interface Net {
  hosts: { name: string; ns: string; rootDev: string; rootIp: string }[];
  cleanup(): Promise<string[]>;
}

async function makeNet(tag: string, octets: [number, number]): Promise<Net> {
  const hosts = (["hostA", "hostB"] as const).map((name, i) => ({
    name,
    ns: `gigq-${tag}-${name}`,
    rootDev: `gq${tag}${"ab"[i]}`, // at most 15 characters
    nsDev: `gq${tag}${"ab"[i]}p`,
    rootIp: `10.77.${octets[i]}.1`,
    nsIp: `10.77.${octets[i]}.2`,
  }));
  const made: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    const errors: string[] = [];
    for (const undo of made.reverse()) {
      try {
        await undo();
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
    return errors;
  };
  try {
    for (const h of hosts) {
      await run("ip", ["netns", "add", h.ns]);
      made.push(() => run("ip", ["netns", "del", h.ns]));
      await run("ip", ["link", "add", h.rootDev, "type", "veth", "peer", "name", h.nsDev]);
      // Deleting one end deletes the pair (and moving the other end away keeps it alive).
      made.push(() => run("ip", ["link", "del", h.rootDev], true));
      await run("ip", ["link", "set", h.nsDev, "netns", h.ns]);
      await run("ip", ["addr", "add", `${h.rootIp}/24`, "dev", h.rootDev]);
      await run("ip", ["link", "set", h.rootDev, "up"]);
      await run("ip", ["-n", h.ns, "addr", "add", `${h.nsIp}/24`, "dev", h.nsDev]);
      await run("ip", ["-n", h.ns, "link", "set", h.nsDev, "up"]);
      await run("ip", ["-n", h.ns, "link", "set", "lo", "up"]);
    }
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { hosts, cleanup };
}

/** A throwaway cluster listening on `addresses` only, owned by the postgres user. */
interface Cluster {
  port: number;
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function startCluster(addresses: string[], port: number): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ prefix: "gigq-netns-pg-" });
  const uid = Number((await run("id", ["-u", "postgres"])).out.trim());
  const gid = Number((await run("id", ["-g", "postgres"])).out.trim());
  await Deno.chown(dir, uid, gid);
  const data = `${dir}/data`;
  const as = (args: string[]) => run("runuser", ["-u", "postgres", "--", ...args]);
  const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  let started = false;
  try {
    await as([`${pgBin()}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
    await Deno.writeTextFile(
      `${data}/postgresql.conf`,
      [
        `listen_addresses = '${addresses.join(",")}'`,
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        "fsync = off",
        "synchronous_commit = off",
        "max_connections = 50",
        // A partitioned client must not hold row locks (and so its jobs) forever.
        "idle_in_transaction_session_timeout = '5s'",
        "",
      ].join("\n"),
      { append: true },
    );
    await Deno.writeTextFile(`${data}/pg_hba.conf`, "host all all 10.77.0.0/16 trust\n", {
      append: true,
    });
    started = true;
    await as([`${pgBin()}/pg_ctl`, "-D", data, "-l", `${dir}/log`, "-w", "-t", "30", "start"]);
  } catch (error) {
    const log = await Deno.readTextFile(`${dir}/log`).catch(() => "");
    if (started) {
      await as([`${pgBin()}/pg_ctl`, "-D", data, "-m", "immediate", "stop"]).catch(() => {});
    }
    await remove();
    throw new Error(`${(error as Error).message}${log === "" ? "" : `; log: ${log.slice(-1000)}`}`);
  }
  return {
    port,
    log: () => Deno.readTextFile(`${dir}/log`).catch(() => ""),
    stop: async () => {
      try {
        await as([`${pgBin()}/pg_ctl`, "-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        await remove();
      }
    },
  };
}

/** What a run is asked to do. */
export interface NetnsOptions {
  jobs: number;
  log: (line: string) => void;
}

/** Runs both phases; resolves to the figures. Needs {@linkcode netnsUnavailable} to be undefined. */
export async function runNetns(o: NetnsOptions): Promise<NetnsReport> {
  const started = Date.now();
  const tag = rand().slice(0, 4);
  const k = 2 * (1 + Math.floor(Math.random() * 120));
  const net = await makeNet(tag, [k, k + 1]);
  const failures: string[] = [];
  let cluster: Cluster | undefined;
  const undo = async () => {
    await cluster?.stop().catch((e) => failures.push(`cluster stop: ${e.message}`));
    cluster = undefined;
    failures.push(...await net.cleanup());
  };
  cleanups.add(undo);
  try {
    cluster = await startCluster(net.hosts.map((h) => h.rootIp), 50000 + k * 10 + 7);
    try {
      return await phases(o, net, cluster, started);
    } catch (error) {
      const log = await cluster.log();
      throw new Error(`${(error as Error).message}\ncluster log (end): ${log.slice(-1500)}`);
    }
  } finally {
    cleanups.delete(undo);
    await undo();
    if (failures.length > 0) o.log(`netns: cleanup problems: ${failures.join("; ")}`);
  }
}

/** What a run in progress must undo: run by the script's signal handlers. */
const cleanups = new Set<() => Promise<void>>();

/** For the script: on SIGINT or SIGTERM, kill the workers, remove the network and cluster, exit. */
function cleanUpOnSignal(): void {
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(sig, async () => {
      for (const child of workers) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      for (const undo of cleanups) await undo();
      Deno.exit(code);
    });
  }
}

/** Worker processes still running (for the signal handlers). */
const workers = new Set<Deno.ChildProcess>();

interface Host {
  name: string;
  ns: string;
  rootDev: string;
  url: string;
  child: Child;
}

async function phases(
  o: NetnsOptions,
  net: Net,
  cluster: Cluster,
  started: number,
): Promise<NetnsReport> {
  const schema = "gigq_netns";
  const hostUrl = (ip: string) =>
    `postgres://postgres@${ip}:${cluster.port}/postgres?schema=${schema}`;
  // The driver (root namespace) talks to hostB's side, which stays up throughout.
  const rootUrl = hostUrl(net.hosts[1].rootIp);
  const { default: postgres } = await import("npm:postgres@3");
  const sql = postgres(`postgres://postgres@${net.hosts[1].rootIp}:${cluster.port}/postgres`, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: schema },
  });
  const n = async (text: string, params: (string | number)[] = []) =>
    Number(Object.values((await sql.unsafe(text, params))[0])[0]);
  const hosts: Host[] = [];
  const workerErrors: string[] = [];
  try {
    const queue = new JobQueue(rootUrl);
    await queue.stats(); // makes the schema
    await sql.unsafe(`CREATE TABLE effects (job_id text NOT NULL, run integer,
      attempt integer NOT NULL, worker_id text NOT NULL, at bigint NOT NULL)`);
    const submit = async (count: number, task: string, params: () => Record<string, number>) => {
      for (let i = 0; i < count; i += 2000) {
        const batch = Array.from(
          { length: Math.min(2000, count - i) },
          () => new Job({ task, params: params(), maxAttempts: 1000 }),
        );
        await queue.submitMany(batch);
      }
    };

    // Phase 1: both hosts share the jobs.
    await submit(o.jobs, "effect", () => ({ ms: Math.floor(Math.random() * 4) }));
    for (const h of net.hosts) {
      const url = hostUrl(h.rootIp);
      const child = spawnCommand("ip", [
        "netns",
        "exec",
        h.ns,
        Deno.execPath(),
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-net",
        "--allow-env",
        script("_worker.ts"),
        "--db",
        url,
        "--id",
        h.name,
        "--lease",
        "2",
        "--concurrency",
        "4",
        "--poll",
        "0.2",
        "--watch",
      ]);
      hosts.push({ name: h.name, ns: h.ns, rootDev: h.rootDev, url, child });
      workers.add(child.process);
      child.done.then(() => workers.delete(child.process));
    }
    for (const h of hosts) await h.child.waitFor(/^ready /m, 60_000);
    const [hostA, hostB] = hosts;
    o.log(`netns: ${o.jobs} jobs submitted; workers on ${hosts.map((h) => h.url).join(" and ")}`);
    const completed = () => n(`SELECT count(*) FROM gigq_jobs WHERE status = 'completed'`);
    const until = async (what: string, ms: number, ok: () => Promise<boolean>) => {
      const end = Date.now() + ms;
      while (!await ok()) {
        if (Date.now() > end) throw new Error(`netns: ${what} not within ${ms} ms`);
        await sleep(100);
      }
    };
    await until(`${o.jobs} jobs completed`, 300_000, async () => await completed() === o.jobs);
    o.log(
      `netns: phase 1: ${o.jobs} jobs completed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );

    // Phase 2: long jobs; cut hostA while it runs some.
    const phase2 = 8;
    await submit(phase2, "effect", () => ({ ms: 4000 }));
    const runningOnA = () =>
      sql.unsafe(
        `SELECT j.id, j.runs FROM gigq_jobs j WHERE j.status = 'running' AND j.worker_id = $1
          AND EXISTS (SELECT 1 FROM effects f WHERE f.job_id = j.id AND f.run = j.runs)`,
        [hostA.name],
      );
    await until("hostA running a phase-2 job", 30_000, async () => (await runningOnA()).length > 0);
    await sleep(300); // let its claim fill
    const cut = [...await runningOnA()].map((r) => ({ id: String(r.id), run: Number(r.runs) }));
    await run("ip", ["link", "set", hostA.rootDev, "down"]);
    const cutAt = Date.now();
    o.log(`netns: cut ${hostA.rootDev} (hostA) while it ran ${cut.length} jobs`);
    let restored = false;
    // The jobs whose hostA attempt ended by a lapsed lease: those it ran at the
    // cut, and any whose claim was on the wire when the link went down.
    const cameBack = async () =>
      [
        ...await sql.unsafe(
          `SELECT DISTINCT j.id FROM gigq_attempts a JOIN gigq_jobs j ON j.seq = a.job
            WHERE a.worker_id = $1 AND a.status = 'timeout'
              AND a.error LIKE '%stopped renewing its lease%'`,
          [hostA.name],
        ),
      ].map((r) => String(r.id));
    const doneOnB = (ids: string[]) =>
      n(
        `SELECT count(*) FROM gigq_jobs WHERE id = ANY($1) AND status = 'completed'
          AND worker_id = $2`,
        // deno-lint-ignore no-explicit-any
        [ids as any, hostB.name],
      );
    let back: string[] = [];
    try {
      // Its leases lapse; hostB takes the jobs and completes them.
      await until("hostA's jobs completed on hostB", 60_000, async () => {
        if (await doneOnB(cut.map((c) => c.id)) !== cut.length) return false;
        back = await cameBack();
        return await doneOnB(back) === back.length;
      });
      // hostA's handlers (4 s) have returned by now: their completions wait on the dead link.
      await sleep(Math.max(0, cutAt + 5000 - Date.now()));
    } finally {
      await run("ip", ["link", "set", hostA.rootDev, "up"]);
      restored = true;
    }
    o.log(`netns: link restored after ${((Date.now() - cutAt) / 1000).toFixed(1)} s`);
    const snapshot = async () =>
      JSON.stringify(
        [
          ...await sql.unsafe(
            `SELECT id, status, result, worker_id, runs, completed_at FROM gigq_jobs
              WHERE id = ANY($1) ORDER BY id`,
            // deno-lint-ignore no-explicit-any
            [back as any],
          ),
        ],
      );
    const before = await snapshot();

    // hostA recovers: once its connections wake, it takes new work again.
    const restoredAt = Date.now();
    let total = o.jobs + phase2;
    const aSince = () =>
      n(
        `SELECT count(*) FROM gigq_jobs WHERE status = 'completed' AND worker_id = $1
          AND completed_at > $2`,
        [hostA.name, restoredAt],
      );
    for (let round = 0; await aSince() === 0; round++) {
      if (round === 30) throw new Error("netns: hostA completed nothing after its link returned");
      await submit(20, "effect", () => ({ ms: 200 }));
      total += 20;
      await until(`all ${total} jobs completed`, 120_000, async () => await completed() === total);
    }
    const all = total;
    const after = await snapshot();
    queue.close();

    // Stop both; read each worker's own count of completions it decided.
    const stopStart = Date.now();
    const summaries: Record<string, { completed: number }> = {};
    let stopSeconds = 0;
    for (const h of hosts) {
      signal(h.child, "SIGTERM");
      await exited(h.child, 60_000, `worker ${h.name}`);
      if (h === hostA) stopSeconds = (Date.now() - stopStart) / 1000;
      const line = h.child.stdout().split("\n").find((l) => l.startsWith('{"summary"'));
      if (line === undefined) throw new Error(`worker ${h.name} printed no summary`);
      summaries[h.name] = JSON.parse(line).summary;
      for (const l of h.child.stderr().split("\n")) {
        if (l.trim() !== "") workerErrors.push(`${h.name}: ${l}`);
      }
    }
    const extra = (await cameBack()).filter((id) => !back.includes(id));
    if (extra.length > 0) {
      const rows = await sql.unsafe(
        `SELECT j.id, j.runs, j.worker_id, j.started_at, j.completed_at, a.run, a.worker_id AS aw,
            a.started_at AS ast, a.completed_at AS act, a.error FROM gigq_jobs j
          LEFT JOIN gigq_attempts a ON a.job = j.seq WHERE j.id = ANY($1) ORDER BY j.id, a.run`,
        // deno-lint-ignore no-explicit-any
        [extra as any],
      );
      o.log(`netns: came back after the link returned: ${JSON.stringify([...rows])}`);
      o.log(`netns: cut at ${cutAt}, restored at ${restoredAt}`);
    }
    const byHost: Record<string, number> = {};
    for (const h of hosts) {
      byHost[h.name] = await n(
        `SELECT count(*) FROM gigq_jobs WHERE status = 'completed' AND worker_id = $1`,
        [h.name],
      );
    }
    const completedRuns = `SELECT j.id AS job_id, j.runs AS run FROM gigq_jobs j
      WHERE j.status = 'completed'`;
    return {
      jobs: all,
      completed: await completed(),
      byHost,
      linkCuts: restored ? 1 : 0,
      cutJobs: cut.length,
      cameBack: back.length,
      cutCameBack: cut.filter((c) => back.includes(c.id)).length,
      backOnB: await doneOnB(back),
      allBack: (await cameBack()).length,
      lateFenced: summaries[hostA.name].completed - byHost[hostA.name],
      changedByLate: before === after ? 0 : back.length,
      afterRestore: await n(
        `SELECT count(*) FROM gigq_jobs WHERE status = 'completed' AND worker_id = $1
          AND completed_at > $2`,
        [hostA.name, restoredAt],
      ),
      lost: await n(`SELECT count(*) FROM gigq_jobs WHERE status <> 'completed'`),
      double: await n(`SELECT count(*) FROM (SELECT job FROM gigq_executions
          WHERE status = 'completed' GROUP BY job HAVING count(*) > 1) AS d`) +
        await n(`SELECT count(*) FROM (SELECT job_id, run FROM effects
          GROUP BY job_id, run HAVING count(*) > 1) AS e`),
      uncountedB: summaries[hostB.name].completed - byHost[hostB.name],
      badEffects: await n(`SELECT count(*) FROM effects f WHERE f.run IS NULL
          OR NOT EXISTS (SELECT 1 FROM gigq_jobs j WHERE j.id = f.job_id AND f.run <= j.runs)`) +
        await n(`SELECT count(*) FROM (${completedRuns}) c
          WHERE NOT EXISTS (SELECT 1 FROM effects f WHERE f.job_id = c.job_id AND f.run = c.run)`),
      lateClaims: await n(
        `SELECT count(*) FROM gigq_attempts
        WHERE worker_id = $1 AND error LIKE '%handed back unrun%'`,
        [hostA.name],
      ),
      otherEndings: await n(`SELECT count(*) FROM gigq_attempts
        WHERE NOT (status = 'timeout' AND error LIKE '%stopped renewing its lease%')
          AND error NOT LIKE '%handed back unrun%'`),
      stopSeconds: Math.round(stopSeconds * 10) / 10,
      workerErrors,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    for (const h of hosts) signal(h.child, "SIGKILL");
    for (const h of hosts) await h.child.done;
    closeConnections();
    await closing();
    await sql.end({ timeout: 2 });
  }
}

/** The figures that are wrong, by name (empty: the run passed). */
export function netnsProblems(r: NetnsReport): string[] {
  const problems: string[] = [];
  const zero = [
    "lost",
    "double",
    "badEffects",
    "otherEndings",
    "changedByLate",
    "uncountedB",
  ] as const;
  for (const key of zero) if (r[key] !== 0) problems.push(`${key} = ${r[key]}`);
  if (r.completed !== r.jobs) problems.push(`completed ${r.completed} of ${r.jobs}`);
  if (r.linkCuts !== 1) problems.push("the link was not cut and restored");
  if (r.cutJobs === 0) problems.push("hostA ran no job when its link was cut");
  if (r.cutCameBack !== r.cutJobs) {
    problems.push(`${r.cutCameBack} of ${r.cutJobs} cut jobs came back`);
  }
  if (r.backOnB !== r.cameBack) {
    problems.push(`${r.backOnB} of ${r.cameBack} jobs that came back completed on hostB`);
  }
  // Each job that came back by the restore had its late completion fenced. A
  // renewal stuck on a connection still retransmitting after the link returned
  // can let one more lease lapse (allBack > cameBack): fenced the same way.
  if (r.lateFenced < r.cameBack || r.lateFenced > r.allBack) {
    problems.push(
      `${r.lateFenced} late completions fenced, wanted ${r.cameBack} to ${r.allBack} ` +
        "(one per job that came back)",
    );
  }
  if (r.afterRestore === 0) problems.push("hostA completed nothing after its link returned");
  for (const [host, count] of Object.entries(r.byHost)) {
    if (count === 0) problems.push(`${host} completed nothing`);
  }
  // A lapsed lease on the cut host is logged, and so may be a step of its
  // worker that tried to reconnect while the link was down (it retries);
  // nothing else may be.
  const unexpected = r.workerErrors.filter((l) =>
    !/^hostA: .*(could not renew leases|the claim reached worker hostA .* handed back unrun)/.test(
      l,
    ) && !/^hostA: .*(EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|CONNECT_TIMEOUT)/.test(l)
  );
  if (unexpected.length > 0) problems.push(`worker errors: ${unexpected.join(" | ")}`);
  return problems;
}

/** One line of figures. */
export function netnsSummary(r: NetnsReport): string {
  return `netns: ${r.jobs} jobs, completed ${r.completed} (${
    Object.entries(r.byHost).map(([h, c]) => `${h} ${c}`).join(", ")
  }), ${r.linkCuts} link cut, ${r.cutJobs} jobs running on the cut host, ${r.cameBack} came back (${r.cutCameBack} ` +
    `of those, ${r.cameBack - r.cutCameBack} claimed as the link went) and ${r.backOnB} ` +
    `completed on hostB, ${r.lateFenced} late completions fenced, ${r.changedByLate} changed ` +
    `by them, ${
      r.allBack - r.cameBack
    } came back after the link returned, ${r.lateClaims} late claims handed back unrun, ${r.afterRestore} completed by hostA after the link returned, lost ${r.lost}, ` +
    `double ${r.double}, bad effects ${r.badEffects}, other endings ${r.otherEndings}, hostA ` +
    `stopped in ${r.stopSeconds} s, ${r.seconds} s`;
}

if (import.meta.main) {
  const a = parseArgs({ args: Deno.args, options: { jobs: { type: "string", default: "5000" } } })
    .values;
  cleanUpOnSignal();
  const why = await netnsUnavailable();
  if (why !== undefined) {
    console.log(`netns: skipped: ${why} (it needs root and ip netns; CI runs it)`);
    Deno.exit(0);
  }
  const report = await runNetns({ jobs: Number(a.jobs), log: (l) => console.log(l) });
  for (const line of report.workerErrors) console.log(`netns: worker said: ${line}`);
  console.log(netnsSummary(report));
  const problems = netnsProblems(report);
  if (problems.length > 0) {
    console.error(`FAILED: ${problems.join("; ")}`);
    Deno.exit(1);
  }
}
