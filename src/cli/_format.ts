/** Output formatting for the CLI: tables, local times and JSON. */

/**
 * A boxed table in GigQ's layout: each column as wide as its longest cell
 * plus two, `+---+` separators above and below the header and at the end.
 * No rows gives `No data to display.`.
 */
export function formatTable(
  rows: readonly (readonly string[])[],
  headers?: readonly string[],
): string {
  if (rows.length === 0) return "No data to display.";
  const columns = Math.max(headers?.length ?? 0, ...rows.map((r) => r.length));
  const pad = (r: readonly string[]) => Array.from({ length: columns }, (_, i) => r[i] ?? "");
  const all = headers === undefined ? rows.map(pad) : [pad(headers), ...rows.map(pad)];
  const widths = Array.from(
    { length: columns },
    (_, i) => Math.max(...all.map((r) => [...r[i]].length)) + 2,
  );
  const separator = "+" + widths.map((w) => "-".repeat(w)).join("+") + "+";
  const line = (r: string[]) =>
    "|" + r.map((cell, i) => " " + cell + " ".repeat(widths[i] - 2 - [...cell].length) + " ")
      .join("|") +
    "|";
  const out = [separator];
  if (headers !== undefined) out.push(line(all[0]), separator);
  for (const r of headers === undefined ? all : all.slice(1)) out.push(line(r));
  out.push(separator);
  return out.join("\n");
}

const two = (n: number) => String(n).padStart(2, "0");

/**
 * A time as `YYYY-MM-DD HH:MM:SS` in the local time zone; `-` for none.
 * Accepts an ISO string, a Date or epoch milliseconds.
 */
export function formatTime(value: string | number | Date | null | undefined): string {
  if (value === null || value === undefined || value === "") return "-";
  const d = value instanceof Date ? value : new Date(value);
  if (isNaN(d.getTime())) return String(value);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A JSON value on one line, as the human-readable output shows params and results. */
export function formatValue(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** A whole number of seconds, or one decimal below ten: `3.5 s`, `42 s`. */
export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${s < 10 ? Math.round(s * 10) / 10 : Math.round(s)} s`;
}

/** Pretty JSON for `--json`, with a final newline. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/** The first line of a text, shortened to `max` characters. */
export function firstLine(text: string, max = 80): string {
  const line = text.split("\n", 1)[0];
  return line.length > max ? line.slice(0, max - 1) + "…" : line;
}
