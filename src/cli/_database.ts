/**
 * Looks at a database file before the CLI opens it, so that commands which
 * only read (or change existing jobs) never create a file, and never switch
 * an empty or foreign file to WAL mode, which would rewrite its header.
 */
import { pathToFileURL } from "node:url";
import { JobQueue } from "../queue.ts";
import { peekVersion } from "../sqlite/schema.ts";
import type { DriverName } from "../sqlite/connection.ts";
import { isReadOnlyDirectory } from "../sqlite/_file_errors.ts";
import { OperationError } from "./_args.ts";

const MAGIC = "SQLite format 3\0";

/** There is no GigQ queue at the path yet (missing, empty, or a file without GigQ's tables). */
export class NoDatabaseError extends OperationError {
  /**
   * @param path the database path
   * @param other the file is an SQLite database with other tables
   */
  constructor(path: string, other = false) {
    super(
      other
        ? `no GigQ queue in ${path} (it is an SQLite database without GigQ's tables; submit a ` +
          `job or start a worker on it to add them beside its own)`
        : `no GigQ database at ${path} (submit a job or start a worker to create one)`,
    );
    this.name = "NoDatabaseError";
  }
}

async function size(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      throw new OperationError(`${JSON.stringify(path)} is a directory, not a GigQ database`);
    }
    return info.size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function header(path: string): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(108);
  let n = 0;
  while (n < buf.length) {
    const read = await file.read(buf.subarray(n));
    if (read === null) break;
    n += read;
  }
  return buf.subarray(0, n);
}

/**
 * Checks the file at `path` before any connection opens it.
 *
 * - `mustExist` (read commands, cancel, requeue, clear, why): a missing or
 *   empty file, or an SQLite file without tables, is "no GigQ database"
 *   (a {@linkcode NoDatabaseError}); nothing is created.
 * - otherwise (submit, worker): those are fine, the queue creates its tables.
 *
 * A file that is not SQLite is refused in both cases. A foreign SQLite
 * database is left to the library, which refuses it before writing.
 */
export async function checkDatabaseFile(
  path: string,
  options: { mustExist: boolean; driver: DriverName },
): Promise<void> {
  if (path === ":memory:" || path.startsWith("file:")) return;
  const missing = () => new NoDatabaseError(path);
  const bytes = await size(path);
  if (bytes === undefined || bytes === 0) {
    if (options.mustExist) throw missing();
    return;
  }
  const head = await header(path);
  if (head.length < 100 || new TextDecoder().decode(head.subarray(0, 16)) !== MAGIC) {
    throw new OperationError(
      `${JSON.stringify(path)} is not an SQLite database, so not a GigQ database`,
    );
  }
  if (!options.mustExist) return;
  // GigQ's tables may sit beside an application's: ask SQLite whether they
  // are there (through the WAL too), without changing the file.
  let version: number;
  try {
    version = peekVersion(path, options.driver);
  } catch (error) {
    if (isReadOnlyDirectory(path, error)) {
      if ((await size(path + "-wal") ?? 0) > 0) throw unreadableWal(path);
      return; // The read-only fallback decides.
    }
    throw error;
  }
  if (version === 0) throw new NoDatabaseError(path, bytes > 0 && hasTables(await header(path)));
}

/** Whether page 1 of a database lists any table (from its first bytes). */
function hasTables(head: Uint8Array): boolean {
  const pageType = head[100];
  const cells = head.length >= 105 ? (head[103] << 8) | head[104] : 0;
  return pageType !== 0x0d || cells > 0;
}

/** A queue whose WAL holds commits, in a directory where SQLite cannot create its -shm file. */
function unreadableWal(path: string): OperationError {
  return new OperationError(
    `cannot read ${path}: its directory is read-only, and ${path}-wal holds commits that ` +
      `SQLite can read only by creating ${path}-shm beside it (WAL mode needs a writable ` +
      `directory); make the directory writable, or run gigq as a user who can write to it`,
  );
}

/**
 * True when every permission is granted (`--allow-all`): only then does
 * Deno's `node:sqlite` take a `file:` URI as one (otherwise it reads it as a
 * relative path, or refuses it as one the permissions do not cover).
 */
function allGranted(): boolean {
  const names = ["read", "write", "net", "env", "sys", "run", "ffi", "import"] as const;
  return names.every((name) => Deno.permissions.querySync({ name }).state === "granted");
}

/**
 * Opens the queue at `path` for a command that only reads it (status, list,
 * stats, why, backup). In a read-only directory (or file system) SQLite
 * cannot create the `-wal` and `-shm` files WAL mode needs, and opening
 * fails. When there is no WAL, or an empty one, every commit is in the
 * database file itself and no process can be writing to it (a writer would
 * have created the WAL), so the file is read as it is, through an
 * `immutable=1` URI, and `note` is told. A WAL that holds commits cannot be
 * read without its `-shm` file: that is an error saying so (an immutable read
 * would silently miss those commits). So is the `node` driver without
 * `--allow-all`, where Deno's `node:sqlite` takes no URI.
 */
export async function openForReading(
  path: string,
  driver: DriverName,
  note: (text: string) => void,
): Promise<JobQueue> {
  try {
    return new JobQueue(path, { driver });
  } catch (error) {
    if (!isReadOnlyDirectory(path, error)) throw error;
    if ((await size(`${path}-wal`) ?? 0) > 0) throw unreadableWal(path);
    if (driver === "node" && !allGranted()) {
      throw new OperationError(
        `cannot read ${path}: its directory (or file system) is read-only, so SQLite cannot ` +
          `create the -wal and -shm files WAL mode needs; SQLite can read the file as it is ` +
          `(immutable), but Deno's node:sqlite opens it that way only with --allow-all: use ` +
          `--driver ffi (with --allow-ffi), or run with --allow-all`,
      );
    }
    const queue = new JobQueue(`${pathToFileURL(path).href}?immutable=1`, { driver });
    note(
      `reading ${path} read-only, as it is on disk: its directory (or file system) is ` +
        `read-only, so SQLite cannot create the -wal and -shm files it needs to open it normally`,
    );
    return queue;
  }
}
