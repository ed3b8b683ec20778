import type { Connection, DriverName, OpenOptions } from "./connection.ts";
import { FfiConnection } from "./ffi_driver.ts";
import { NodeConnection } from "./node_driver.ts";

/**
 * Opens a new connection with the chosen driver. Most code should use the
 * registry's `getConnection` instead, which reuses one connection per file.
 */
export function openConnection(
  path: string,
  driver: DriverName = "node",
  options: OpenOptions = {},
): Connection {
  switch (driver) {
    case "node":
      return new NodeConnection(path, options);
    case "ffi":
      return new FfiConnection(path, options);
    default:
      throw new RangeError(
        `Cannot open ${JSON.stringify(path)}: unknown driver ${
          JSON.stringify(driver)
        }; allowed: "node", "ffi"`,
      );
  }
}
