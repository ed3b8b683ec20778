/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A Web Worker for registry_test.ts and _fd_check.ts. Messages:
 * - { op: "open", path, driver }: opens the registry connection, writes a row,
 *   replies { handle, open } (handle is the ffi pointer value, or null);
 * - { op: "query", path }: replies { count } of rows;
 * - { op: "close" }: calls self.close(), which must close the connection first.
 */
import { getConnection } from "../../mod.ts";
import { openConnectionCount } from "../../src/sqlite/registry.ts";
import { migrate } from "../../src/sqlite/schema.ts";

let driver: "node" | "ffi" = "node";

self.onmessage = (e: MessageEvent) => {
  const msg = e.data;
  try {
    if (msg.op === "open") {
      driver = msg.driver;
      const conn = getConnection(msg.path, { driver });
      migrate(conn);
      conn.exec("CREATE TABLE IF NOT EXISTS hits (x INTEGER)");
      conn.transaction(() => conn.prepare("INSERT INTO hits VALUES (1)").run());
      const again = getConnection(msg.path, { driver });
      self.postMessage({
        same: again === conn,
        handle: "handle" in conn ? String((conn as { handle: bigint }).handle) : null,
        open: openConnectionCount(),
      });
    } else if (msg.op === "query") {
      const n =
        getConnection(msg.path, { driver }).prepare("SELECT count(*) FROM hits").values()[0][0];
      self.postMessage({ count: n, open: openConnectionCount() });
    } else if (msg.op === "close") {
      self.close();
    }
  } catch (error) {
    self.postMessage({ error: `${(error as Error).name}: ${(error as Error).message}` });
  }
};
