/**
 * `deno task test`: runs the suite with a PostgreSQL server for its
 * `[postgres]` tests when one can be had, so a fresh clone passes anywhere.
 *
 * - `GIGQ_TEST_POSTGRES_URL` set (a URL, or `none`): used as given.
 * - A server answering on 127.0.0.1:5432 (user `postgres`, database `test`):
 *   the tests find it themselves.
 * - Otherwise, where the PostgreSQL server programs are installed (`initdb`
 *   and `pg_ctl`, found through `GIGQ_TEST_POSTGRES_BIN`, `pg_config
 *   --bindir`, `/usr/lib/postgresql/<version>/bin` or `PATH`): a throwaway
 *   cluster in a temp directory on a free loopback port (run as the
 *   `postgres` user when this runs as root), stopped and deleted afterwards.
 * - Else the PostgreSQL tests are ignored, and one line says how to run them.
 *
 * Arguments are passed to `deno test` (the default: the whole suite).
 */
import { answers } from "./_pg_probe.ts";

const here = new URL(".", import.meta.url).pathname;

/** Runs a command, failing with its output when it fails. */
async function run(cmd: string, args: string[], what: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const dec = new TextDecoder();
    throw new Error(
      `${what} failed (${cmd} ${args.join(" ")}): ${dec.decode(out.stderr)}${
        dec.decode(out.stdout)
      }`,
    );
  }
}

async function portAnswers(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

function isExecutable(path: string): boolean {
  try {
    return (Deno.statSync(path).mode ?? 0) & 0o111 ? true : false;
  } catch {
    return false;
  }
}

/** The directory holding `initdb` and `pg_ctl`, if any. */
async function serverBinaries(): Promise<string | undefined> {
  const candidates: string[] = [];
  const given = Deno.env.get("GIGQ_TEST_POSTGRES_BIN");
  if (given !== undefined) candidates.push(given);
  else {
    try {
      const out = await new Deno.Command("pg_config", { args: ["--bindir"], stderr: "null" })
        .output();
      if (out.success) candidates.push(new TextDecoder().decode(out.stdout).trim());
    } catch { /* no pg_config */ }
    try {
      const versions = [...Deno.readDirSync("/usr/lib/postgresql")]
        .map((e) => e.name).filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(b) - Number(a));
      candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
    } catch { /* not a Debian layout */ }
    candidates.push(...(Deno.env.get("PATH") ?? "").split(":").filter((p) => p !== ""));
  }
  return candidates.find((dir) => isExecutable(`${dir}/initdb`) && isExecutable(`${dir}/pg_ctl`));
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A throwaway cluster: its URL and how to stop it. */
interface Cluster {
  url: string;
  stop(): Promise<void>;
}

async function startCluster(bin: string): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ prefix: "gigq-test-pg-" });
  const data = `${dir}/data`;
  const root = Deno.uid?.() === 0;
  // initdb refuses to run as root: the cluster belongs to the postgres user.
  const as = (cmd: string, args: string[]): [string, string[]] =>
    root ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
  if (root) await run("chown", ["postgres", dir], "giving the cluster's directory to postgres");
  const port = freePort();
  const stop = async () => {
    await run(...as(`${bin}/pg_ctl`, ["-D", data, "-m", "immediate", "-w", "stop"]), "pg_ctl stop")
      .catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await run(
      ...as(`${bin}/initdb`, ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]),
      "initdb",
    );
    await run(
      ...as(`${bin}/pg_ctl`, [
        "-D",
        data,
        "-l",
        `${dir}/server.log`,
        "-w",
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
        "start",
      ]),
      "pg_ctl start",
    );
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    if (!await answers(url)) throw new Error(`the throwaway cluster at ${url} does not answer`);
    return { url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

const env: Record<string, string> = {};
let cluster: Cluster | undefined;
const given = Deno.env.get("GIGQ_TEST_POSTGRES_URL");
if ((given === undefined || given === "") && !await portAnswers(5432)) {
  const bin = await serverBinaries();
  if (bin !== undefined) {
    cluster = await startCluster(bin);
    env.GIGQ_TEST_POSTGRES_URL = cluster.url;
    console.log(`PostgreSQL tests on a throwaway cluster (${bin}) at ${cluster.url}`);
  }
}

const child = new Deno.Command(Deno.execPath(), {
  args: [
    "test",
    "--allow-all",
    "--parallel",
    ...(Deno.args.length > 0 ? Deno.args : [here]),
  ],
  env,
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
const forward = (signal: Deno.Signal) => () => {
  try {
    child.kill(signal);
  } catch { /* already ended */ }
};
Deno.addSignalListener("SIGINT", forward("SIGINT"));
Deno.addSignalListener("SIGTERM", forward("SIGTERM"));
const status = await child.status;
await cluster?.stop();
Deno.exit(status.code);
