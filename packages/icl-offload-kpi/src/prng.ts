/**
 * A small seeded pseudo-random generator (mulberry32) so that the simulated
 * NIC's fault injection (reordered completions) and the conformance kit's
 * random segmentation are reproducible from a seed.
 *
 * What it does: 32-bit state, uniform integers and in-place shuffles.
 * What it does not do: anything cryptographic.
 */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 2^32). */
  nextUint32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * n);
  }

  /** Fisher–Yates shuffle of `items`, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}
