/**
 * Small async helpers for the conformance kit: wait a number of event-loop
 * turns, or poll a condition with a deadline.
 *
 * What it does not do: fake timers. The kit runs on the real event loop,
 * because the contracts it checks are about what happens on later turns.
 */

/** Resolves on the next `setImmediate` turn (after pending I/O callbacks). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resolves after `n` event-loop turns. */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nextTurn();
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` (each turn, then each millisecond) until true; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let polls = 0;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    if (polls++ < 50) await nextTurn();
    else await sleep(1);
  }
}
