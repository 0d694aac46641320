/** Counting primes in [from, to) with a segmented sieve: the primes job's unit of work. */
import { InvalidArgumentError } from '../../errors.ts'
import { PRIMES_MAX_TASK_RANGE, PRIMES_MAX_VALUE } from '../constants.ts'

function smallPrimes (limit: number): number[] {
  const sieve = new Uint8Array(limit + 1)
  const out: number[] = []
  for (let i = 2; i <= limit; i++) {
    if (sieve[i] === 1) continue
    out.push(i)
    for (let j = i * i; j <= limit; j += i) sieve[j] = 1
  }
  return out
}

/** the number of primes p with from <= p < to */
export function countPrimes (from: number, to: number): number {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from || to > PRIMES_MAX_VALUE || to - from > PRIMES_MAX_TASK_RANGE) {
    throw new InvalidArgumentError(`primes range must be integers 0 <= from <= to <= ${PRIMES_MAX_VALUE} with to - from <= ${PRIMES_MAX_TASK_RANGE}`)
  }
  const lo = Math.max(from, 2)
  if (to <= lo) return 0
  const composite = new Uint8Array(to - lo)
  for (const p of smallPrimes(Math.floor(Math.sqrt(to - 1)))) {
    const start = Math.max(p * p, Math.ceil(lo / p) * p)
    for (let m = start; m < to; m += p) composite[m - lo] = 1
  }
  let n = 0
  for (let i = 0; i < composite.length; i++) if (composite[i] === 0) n++
  return n
}
