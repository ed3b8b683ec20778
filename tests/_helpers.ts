/** Helpers shared by the test files. */
import type { DriverName } from "../src/sqlite/connection.ts";

/** The drivers the storage tests run against. */
export const drivers: readonly DriverName[] = ["node", "ffi"];

/** A fresh temp directory with a database path inside it; removed by `cleanup`. */
export async function tempDb(
  name = "jobs.db",
): Promise<{ dir: string; path: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "gigq-test-" });
  return {
    dir,
    path: `${dir}/${name}`,
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** The number of open file descriptors of this process (Linux). */
export function openFdCount(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n;
}
