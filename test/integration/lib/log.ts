// Progress lines of the harness go to stderr so they never mix with the test runner's TAP on stdout.
const started = Date.now();

export function log(message: string): void {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[it ${seconds}s] ${message}\n`);
}

/** Runs `fn` and logs how long it took: the suite reports its timings. */
export async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await fn();
  log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}
