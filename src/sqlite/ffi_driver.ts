import type { Connection, OpenOptions } from "./connection.ts";
/** Placeholder being written. */
export class FfiConnection {
  constructor(_path: string, _options: OpenOptions = {}) {
    throw new Error("not yet");
  }
}
export type _C = Connection;
