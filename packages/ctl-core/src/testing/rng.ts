/**
 * Reproducible test data: a seeded pseudo-random generator (mulberry32)
 * and random bytes from it, so a failing test fails the same way again.
 * Not for anything but test data.
 */

/** Deterministic pseudo-random numbers in [0, 1) from `seed`. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` random bytes from `rand`. */
export function randomBytes(rand: () => number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (rand() * 256) | 0;
  return b;
}
