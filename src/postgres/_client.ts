/**
 * The PostgreSQL client registry: one client (porsager's `postgres`, with its
 * own pool of connections) per URL and schema per isolate, shared by every
 * JobQueue and Worker there, closed when the last one lets go or by the
 * public `closeConnections()`. Each Web Worker has its own. The client's one
 * LISTEN connection, started by the first idle worker, lasts as long as the
 * client and is shared by every watcher; so does its one idle session, which
 * holds the queue's idle lock while a watcher is there (and a moment after),
 * telling submits that a NOTIFY may be awaited.
 *
 * @module
 */
import postgres from "npm:postgres@3";
import type { PostgresSpec } from "../_backend.ts";
import { addCloser, trackClosing } from "../_closers.ts";
import { channel } from "./_sql.ts";

/** A client (or a transaction's view of it). */
export type Sql = postgres.Sql;
/** A client inside a transaction. */
export type TransactionSql = postgres.TransactionSql;
/** What a statement's parameters may be. */
export type Param = postgres.ParameterOrJSON<never>;

/** Statements are prepared once per connection and reused. */
export const PREPARED = { prepare: true } as const;

/** One client and who uses it. */
export interface Client {
  readonly key: string;
  readonly sql: Sql;
  readonly spec: PostgresSpec;
  readonly schema: string;
  users: number;
  /** False once closed: its users open a new one. */
  open: boolean;
  /** The queue's schema made or checked on this client (once). */
  migrated: Promise<void> | undefined;
  /** Called with each notification's payload, and with null after each (re)LISTEN. */
  watchers: Set<(payload: string | null) => void>;
  /** The LISTEN, once started. */
  listening: Promise<unknown> | undefined;
  /** The session holding the idle lock, once a watcher wanted it. */
  idle: IdleSession | undefined;
  /** The session holding waiters' locks (see holdWait), once one waited. */
  wait: Sql | undefined;
}

/** A one-connection client that holds the queue's idle lock (shared) while watchers are there. */
interface IdleSession {
  readonly sql: Sql;
  /** Resolves once the lock is held (or could not be taken); undefined while not held. */
  held: Promise<void> | undefined;
  /** The lock's release, due once no watcher has come back meanwhile. */
  timer: number | undefined;
}

/** How long the idle lock is kept after the last watcher goes (a worker between two jobs). */
const IDLE_LINGER_MS = 1000;

const clients = new Map<string, Client>();

/**
 * Epoch milliseconds and counts are bigint columns: numbers here (safe below
 * 2^53). A clock may give fractions of a millisecond (a timer set for a
 * third of a lease): they are dropped, as whole milliseconds are stored.
 */
const BIGINT = {
  to: 20,
  from: [20],
  serialize: (x: unknown) => String(typeof x === "number" ? Math.floor(x) : x),
  parse: (x: string) => Number(x),
};

function connect(spec: PostgresSpec, onclose?: () => void): Sql {
  return postgres(spec.url, {
    ...(spec.max === undefined ? {} : { max: spec.max }),
    ...(onclose === undefined ? {} : { onclose }),
    // CREATE SCHEMA IF NOT EXISTS and the like say "already exists" as a notice.
    onnotice: () => {},
    types: { bigint: BIGINT },
  }) as unknown as Sql;
}

/** The registry's key of a spec's client. */
function keyOf(spec: PostgresSpec): string {
  return `${spec.url}\n${spec.schema}\n${spec.max ?? ""}`;
}

/** Takes a counted reference to the client for `spec`'s database and schema. */
export function acquireClient(spec: PostgresSpec): Client {
  const key = keyOf(spec);
  let client = clients.get(key);
  if (client === undefined) {
    client = {
      key,
      sql: connect(spec),
      spec,
      schema: spec.schema,
      users: 0,
      open: true,
      migrated: undefined,
      watchers: new Set(),
      listening: undefined,
      idle: undefined,
      wait: undefined,
    };
    clients.set(key, client);
  }
  client.users++;
  return client;
}

function end(client: Client): void {
  if (!client.open) return;
  client.open = false;
  if (clients.get(client.key) === client) clients.delete(client.key);
  client.watchers.clear();
  trackClosing(client.sql.end({ timeout: 5 }));
  if (client.wait !== undefined) trackClosing(client.wait.end({ timeout: 5 }));
  client.wait = undefined;
  const idle = client.idle;
  if (idle !== undefined) {
    if (idle.timer !== undefined) clearTimeout(idle.timer);
    idle.held = undefined;
    trackClosing(idle.sql.end({ timeout: 5 }));
  }
}

/** Drops a reference; the client closes when nothing else in the isolate uses it. */
export function releaseClient(client: Client): void {
  if (!client.open) return;
  client.users--;
  if (client.users <= 0) end(client);
}

/** Closes every client of this isolate; returns how many. */
export function closeClients(): number {
  let closed = 0;
  for (const client of [...clients.values()]) {
    closed++;
    end(client);
  }
  return closed;
}

addCloser(closeClients);

/**
 * Calls `fn` with the payload of each notification on the queue's channel,
 * and with null after each (re)LISTEN (when notifications may have been
 * missed). Returns the unsubscribe.
 */
export function subscribe(
  client: Client,
  fn: (payload: string | null) => void,
  debug: (message: string) => void,
): () => void {
  client.watchers.add(fn);
  if (client.listening === undefined && client.open) {
    const each = (payload: string | null) => {
      for (const watcher of [...client.watchers]) watcher(payload);
    };
    client.listening = client.sql.listen(channel(client.schema), each, () => each(null))
      .catch((error) => {
        // Only latency is lost: the worker polls. Try again on the next watch.
        client.listening = undefined;
        debug(`cannot LISTEN: ${(error as Error)?.message ?? error}; polling`);
      });
  }
  return () => {
    client.watchers.delete(fn);
  };
}

/** This isolate's local-commit listeners, by queue (database and schema). */
const commitListeners = new Map<string, Set<() => void>>();

/**
 * Calls `listener` whenever a queue in this isolate commits new work to the
 * queue `spec` names (other processes' commits come by NOTIFY). Returns the
 * unsubscribe.
 */
export function onLocalCommit(spec: PostgresSpec, listener: () => void): () => void {
  const key = `${spec.url}\n${spec.schema}`;
  let set = commitListeners.get(key);
  if (set === undefined) commitListeners.set(key, set = new Set());
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0) commitListeners.delete(key);
  };
}

/** Tells this isolate's workers on the queue `spec` names that new work was committed. */
export function notifyLocalCommit(spec: PostgresSpec): void {
  for (const listener of [...commitListeners.get(`${spec.url}\n${spec.schema}`) ?? []]) listener();
}

/** The statements that take and give back the idle lock (`holdIdle`, `dropIdle`). */
export interface IdleLock {
  hold: string;
  drop: string;
}

/**
 * Holds the queue's idle lock on the client's idle session (opening it on
 * first use); resolves once it is held, after any submit committing now.
 * If the lock cannot be taken, resolves all the same: submits then may send
 * no NOTIFY, which costs the watchers latency (they poll), never a job.
 * If the session drops while watchers are there, the lock is taken again
 * and each watcher is called with null (to look for what it missed).
 */
export function holdIdle(
  client: Client,
  lock: IdleLock,
  debug: (message: string) => void,
): Promise<void> {
  if (!client.open) return Promise.resolve();
  let idle = client.idle;
  if (idle === undefined) {
    const session: IdleSession = {
      sql: connect({ ...client.spec, max: 1 }, () => {
        // The session (and with it the lock) is gone.
        session.held = undefined;
        if (!client.open || client.watchers.size === 0) return;
        holdIdle(client, lock, debug).then(() => {
          for (const watcher of [...client.watchers]) watcher(null);
        });
      }),
      held: undefined,
      timer: undefined,
    };
    idle = client.idle = session;
  }
  if (idle.timer !== undefined) {
    clearTimeout(idle.timer);
    idle.timer = undefined;
  }
  if (idle.held !== undefined) return idle.held;
  const session = idle;
  const held = session.sql.unsafe(lock.hold, [], PREPARED).then(
    () => {},
    (error) => {
      if (session.held === held) session.held = undefined;
      debug(`cannot hold the idle lock: ${(error as Error)?.message ?? error}; polling`);
    },
  );
  session.held = held;
  return held;
}

/** Gives back the idle lock a moment after the last watcher has gone, unless one came back. */
export function releaseIdle(client: Client, lock: IdleLock): void {
  const idle = client.idle;
  if (idle === undefined || idle.held === undefined || idle.timer !== undefined) return;
  const timer = setTimeout(() => {
    idle.timer = undefined;
    if (client.watchers.size > 0 || !client.open) return;
    const held = idle.held;
    idle.held = undefined;
    held?.then(() => idle.sql.unsafe(lock.drop, [], PREPARED)).catch(() => {});
  }, IDLE_LINGER_MS) as unknown as number;
  Deno.unrefTimer(timer);
  idle.timer = timer;
}

/**
 * Takes a waiter's lock on job `id` (statement `hold`, given the id) on the
 * client's wait session, once the client LISTENs; resolves to its release
 * (statement `drop`), or to a no-op where it could not be taken (the waiter
 * then relies on its poll).
 */
export async function holdWait(
  client: Client,
  hold: string,
  drop: string,
  id: string,
  debug: (message: string) => void,
): Promise<() => void> {
  await client.listening;
  if (!client.open) return () => {};
  const session = client.wait ??= connect({ ...client.spec, max: 1 });
  try {
    await session.unsafe(hold, [id], PREPARED);
  } catch (error) {
    debug(`cannot hold the wait lock: ${(error as Error)?.message ?? error}; polling`);
    return () => {};
  }
  return () => {
    if (client.wait === session) session.unsafe(drop, [id], PREPARED).catch(() => {});
  };
}
