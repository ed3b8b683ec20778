/**
 * A UUID version 7 (RFC 9562): 48 bits of milliseconds, then random bits.
 * Time-ordered ids keep inserts into the id index local, which is faster than
 * random v4 ids once the table is large.
 */
const hex: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/**
 * Random bytes for the next 256 ids, 16 per id (each byte used once): one
 * crypto.getRandomValues call per id cost 0.6 µs, most of making a Job.
 */
const pool = new Uint8Array(16 * 256);
let next = pool.length;

export function uuidv7(now: number = Date.now()): string {
  if (next === pool.length) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  const b = next;
  next += 16;
  let ms = Math.floor(now);
  for (let i = 5; i >= 0; i--) {
    pool[b + i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  pool[b + 6] = (pool[b + 6] & 0x0f) | 0x70;
  pool[b + 8] = (pool[b + 8] & 0x3f) | 0x80;
  const h = (i: number) => hex[pool[b + i]];
  return h(0) + h(1) + h(2) + h(3) + "-" + h(4) + h(5) + "-" + h(6) + h(7) + "-" + h(8) + h(9) +
    "-" + h(10) + h(11) + h(12) + h(13) + h(14) + h(15);
}
