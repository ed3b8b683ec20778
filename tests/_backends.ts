/**
 * Tests that run on every backend: SQLite with each driver, and PostgreSQL
 * when a server answers (`GIGQ_TEST_POSTGRES_URL`, or one on
 * 127.0.0.1:5432 with database `test` and user `postgres`). Each PostgreSQL
 * test gets a fresh schema, dropped afterwards. Without a server (or with
 * `GIGQ_TEST_POSTGRES_URL=none`) the PostgreSQL cases are ignored, and one
 * line says how to enable them.
 */
import postgres from "npm:postgres@3";
import { closeConnections } from "../mod.ts";
import { closing } from "../src/_closers.ts";
import type { DriverName } from "../src/sqlite/connection.ts";
import { drivers, tempDb } from "./_helpers.ts";
import { answers, baseUrl } from "./_pg_probe.ts";

/** Where a backend test runs. */
export type BackendName = DriverName | "postgres";

/** What a backend test gets: how to open a queue, a worker or a pool there. */
export interface BackendContext {
  /** `node`, `ffi` or `postgres`. */
  backend: BackendName;
  /** The database file, or the PostgreSQL URL with the test's own `?schema=`. */
  target: string;
  /** The options that go with `target` (the SQLite driver; none for PostgreSQL). */
  options: { driver?: DriverName };
  /** A temp directory of the test's own (for task modules and the like). */
  dir: string;
  /** `target`, under the name `driverTest` gives it (a test moves over unchanged). */
  path: string;
  /** `options.driver`, likewise (undefined on PostgreSQL). */
  driver: DriverName | undefined;
}

const DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test";

/**
 * The server the PostgreSQL tests use, if any. A URL given but not answering
 * fails them; `none` turns them off.
 */
async function findServer(): Promise<string | undefined> {
  const given = Deno.env.get("GIGQ_TEST_POSTGRES_URL");
  if (given === "none") return undefined;
  if (given !== undefined && given !== "") return baseUrl(given);
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port: 5432 })).close();
  } catch {
    return undefined;
  }
  return await answers(DEFAULT_URL) ? DEFAULT_URL : undefined;
}

/** The PostgreSQL URL the tests use (without a schema), or undefined: no server. */
export const POSTGRES_URL: string | undefined = await findServer();

if (POSTGRES_URL === undefined && Deno.env.get("GIGQ_TEST_POSTGRES_NOTED") === undefined) {
  // Said once per run: every test file of the run shares the process environment.
  Deno.env.set("GIGQ_TEST_POSTGRES_NOTED", "1");
  console.log(
    (Deno.env.get("GIGQ_TEST_POSTGRES_URL") === "none"
      ? "PostgreSQL tests ignored (GIGQ_TEST_POSTGRES_URL=none); "
      : "PostgreSQL tests ignored: no server at 127.0.0.1:5432 (user postgres, database test); ") +
      "set GIGQ_TEST_POSTGRES_URL=postgres://user@host:port/db, or install the PostgreSQL " +
      "server programs (initdb, pg_ctl) for deno task test to start a throwaway one",
  );
}

/** A fresh schema name for one test. */
function testSchema(): string {
  return `gigq_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Runs `fn` directly on the test's PostgreSQL schema (a peek, as `getConnection` is for SQLite). */
export async function withPostgres<T>(
  target: string,
  fn: (sql: postgres.Sql, schema: string) => Promise<T>,
): Promise<T> {
  const schema = new URLSearchParams(target.slice(target.indexOf("?") + 1)).get("schema")!;
  const sql = postgres(baseUrl(target), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql, schema);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Whether the test's schema (the `?schema=` of `target`) exists on the server. */
export async function schemaExists(target: string): Promise<boolean> {
  return await withPostgres(target, async (sql, schema) => {
    const [row] = await sql`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ${schema}`;
    return row.n === 1;
  });
}

/**
 * Defines one test per backend: `[node]` and `[ffi]` each with a temp
 * database file, `[postgres]` with a fresh schema (ignored without a server).
 */
export function backendTest(
  name: string,
  fn: (ctx: BackendContext) => Promise<void> | void,
): void {
  for (const driver of drivers) {
    Deno.test(`[${driver}] ${name}`, async () => {
      const db = await tempDb();
      try {
        await fn({
          backend: driver,
          target: db.path,
          options: { driver },
          dir: db.dir,
          path: db.path,
          driver,
        });
      } finally {
        closeConnections();
        await closing();
        await db.cleanup();
      }
    });
  }
  postgresTest(name, fn);
}

/** Defines a `[postgres]` test only: a fresh schema, ignored without a server. */
export function postgresTest(
  name: string,
  fn: (ctx: BackendContext) => Promise<void> | void,
): void {
  const url = POSTGRES_URL;
  Deno.test({
    name: `[postgres] ${name}`,
    ignore: url === undefined,
    fn: async () => {
      const schema = testSchema();
      const target = `${url}${url!.includes("?") ? "&" : "?"}schema=${schema}`;
      const db = await tempDb();
      try {
        await fn({
          backend: "postgres",
          target,
          options: {},
          dir: db.dir,
          path: target,
          driver: undefined,
        });
      } finally {
        closeConnections();
        await closing();
        await dropSchema(url!, schema);
        await db.cleanup();
      }
    },
  });
}

/**
 * A queue URL with a fresh schema of its own on the test server, and the
 * drop of that schema (for a test that needs several, as a copy does);
 * undefined without a server.
 */
export function postgresSchema(): { target: string; drop: () => Promise<void> } | undefined {
  const url = POSTGRES_URL;
  if (url === undefined) return undefined;
  const schema = testSchema();
  return {
    target: `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`,
    drop: () => dropSchema(url, schema),
  };
}
