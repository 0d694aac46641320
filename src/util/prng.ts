/**
 * Randomness is injected: a seeded PRNG makes simulations and randomized tests replayable from
 * the seed they print. sfc32 (small, fast, passes PractRand) seeded through splitmix32.
 */
export interface Rng {
  /** uniform in [0, 1) */
  next: () => number
  /** uniform integer in [0, n) */
  int: (n: number) => number
}

function splitmix32 (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

export function seededRng (seed: number): Rng {
  const init = splitmix32(seed)
  let a = init(); let b = init(); let c = init(); let d = init()
  const next32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t
  }
  for (let i = 0; i < 12; i++) next32()
  const next = (): number => next32() / 4294967296
  return { next, int: (n) => Math.floor(next() * n) }
}

/** the runtime's own randomness, for production defaults */
export const systemRng: Rng = {
  next: () => Math.random(),
  int: (n) => Math.floor(Math.random() * n)
}
