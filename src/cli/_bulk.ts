/** What `requeue` and `cancel` share: the bulk form's filters (`--status`, `--queue`, `--name`). */
import { UsageError } from "./_args.ts";
import { type Context, str } from "./_command.ts";

/** The filter options of a bulk `requeue` or `cancel`. */
export const BULK_OPTIONS = {
  status: { type: "string" },
  queue: { type: "string" },
  name: { type: "string" },
} as const;

/** The filters given, or undefined for none; an id together with filters is a usage error. */
export function bulkFilters(
  ctx: Context,
  command: string,
): { status?: string; queue?: string; name?: string } | undefined {
  const p = ctx.parsed;
  const filters: { status?: string; queue?: string; name?: string } = {};
  for (const key of ["status", "queue", "name"] as const) {
    const value = str(p, key);
    if (value !== undefined) filters[key] = value;
  }
  const given = Object.keys(filters);
  const [id] = p.positionals;
  if (id !== undefined && given.length > 0) {
    throw new UsageError(
      `give a job id or filters (${given.map((k) => `--${k}`).join(", ")}), not both ` +
        `(usage: gigq ${command} <id>, or gigq ${command} --status S --queue Q --name N)`,
    );
  }
  if (id === undefined && given.length === 0) {
    throw new UsageError(
      `give a job id, or at least one of --status, --queue and --name for the bulk form ` +
        `(see gigq ${command} --help)`,
    );
  }
  return given.length === 0 ? undefined : filters;
}
