/** Finding a PostgreSQL server for the tests: shared by the test runner and the test helpers. */
import postgres from "npm:postgres@3";

/** `url` without GigQ's own parameters (a test adds its own schema). */
export function baseUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  params.delete("schema");
  params.delete("max");
  const rest = params.toString();
  return rest === "" ? url.slice(0, q) : `${url.slice(0, q)}?${rest}`;
}

/** Whether a server answers a query at `url` (within 3 s). */
export async function answers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}
