/**
 * The PostgreSQL client registry: one client (porsager's `postgres`, with its
 * own pool of connections) per URL and schema per isolate, shared by every
 * JobQueue and Worker there, closed when the last one lets go or by the
 * public `closeConnections()`. Each Web Worker has its own. The client's one
 * LISTEN connection, started by the first idle worker, lasts as long as the
 * client and is shared by every watcher.
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
}

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

function connect(spec: PostgresSpec): Sql {
  return postgres(spec.url, {
    ...(spec.max === undefined ? {} : { max: spec.max }),
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
      schema: spec.schema,
      users: 0,
      open: true,
      migrated: undefined,
      watchers: new Set(),
      listening: undefined,
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
