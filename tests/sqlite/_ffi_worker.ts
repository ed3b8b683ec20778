/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * Worker for ffi_driver_test.ts: opens an ffi connection, leaves a cached
 * statement behind and posts the raw handle to the parent, which terminates it.
 */
import { FfiConnection } from "../../src/sqlite/ffi_driver.ts";

self.onmessage = (e: MessageEvent<{ path: string }>) => {
  const conn = new FfiConnection(e.data.path);
  conn.exec("CREATE TABLE IF NOT EXISTS t (x INTEGER)");
  conn.transaction(() => conn.prepare("INSERT INTO t VALUES (?)").run(1));
  self.postMessage({ handle: conn.handle });
};
