// Waiting for a condition in tests and benchmarks, never for a fixed time. Free of vitest, so benchmarks
// (outside a test run) can use it too.

/** Polls until `check` is true; never a fixed sleep. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
