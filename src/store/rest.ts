/**
 * Background store work (sweep batches, vacuum steps) rests as long as its last step took, so it
 * takes at most half of the database's time (SQLite's write lock, a PostgreSQL backend's core) and
 * requests keep flowing.
 */
export function restAsLongAs(stepStartedAt: number): Promise<void> {
  const tookMs = performance.now() - stepStartedAt;
  return new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(tookMs))));
}
