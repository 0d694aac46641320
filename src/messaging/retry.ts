/**
 * Retries with exponential backoff and full jitter: before attempt n+1 the caller waits a uniform
 * random time in [0, min(maxDelayMs, initialDelayMs * multiplier^(n-1))), drawn from the injected
 * Rng and timed on the injected Clock. At most maxAttempts attempts; then the last error is thrown.
 */
import { InvalidArgumentError } from '../errors.ts'
import { abortReason, throwIfAborted } from '../util/abort.ts'
import { RETRY_INITIAL_DELAY_MS, RETRY_MAX_ATTEMPTS, RETRY_MAX_DELAY_MS, RETRY_MULTIPLIER } from './constants.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Rng } from '../util/prng.ts'

export interface RetryPolicy {
  initialDelayMs: number
  maxDelayMs: number
  multiplier: number
  /** total attempts, the first one included */
  maxAttempts: number
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  initialDelayMs: RETRY_INITIAL_DELAY_MS,
  maxDelayMs: RETRY_MAX_DELAY_MS,
  multiplier: RETRY_MULTIPLIER,
  maxAttempts: RETRY_MAX_ATTEMPTS
})

/** a validated policy: the defaults with `init` over them */
export function retryPolicy (init: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...init }
  if (!(p.initialDelayMs >= 0) || !(p.maxDelayMs >= p.initialDelayMs) || !(p.multiplier >= 1) ||
    !Number.isSafeInteger(p.maxAttempts) || p.maxAttempts < 1) {
    throw new InvalidArgumentError('retry policy: need 0 <= initialDelayMs <= maxDelayMs, multiplier >= 1, maxAttempts >= 1')
  }
  return p
}

/** the cap of the delay after `failures` failed attempts (>= 1), before jitter */
export function backoffCapMs (policy: RetryPolicy, failures: number): number {
  const exp = policy.initialDelayMs * policy.multiplier ** Math.max(0, failures - 1)
  return Math.min(policy.maxDelayMs, Number.isFinite(exp) ? exp : policy.maxDelayMs)
}

/** full jitter: uniform in [0, cap) */
export function backoffDelayMs (policy: RetryPolicy, failures: number, rng: Rng): number {
  return Math.floor(rng.next() * backoffCapMs(policy, failures))
}

export interface RetryOptions extends AbortOptions {
  clock: Clock
  rng: Rng
  policy?: RetryPolicy
  /** whether an error is worth another attempt (default: every error) */
  isRetryable?: (err: unknown) => boolean
  /** called before each wait, e.g. to log or count retries */
  onRetry?: (err: unknown, failures: number, delayMs: number) => void
  /**
   * read as each attempt starts: once the signal it returns fires (during the attempt or the wait
   * after it), that wait ends and the next attempt starts at once (e.g. the network healed: no
   * point sleeping out a backoff grown while it was cut)
   */
  wake?: () => AbortSignal
}

/** runs `attempt` until it succeeds, the policy gives up, the error is not retryable, or the signal fires */
export async function retry<T> (attempt: (n: number, options: AbortOptions) => Promise<T>, options: RetryOptions): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY_POLICY
  const { signal } = options
  for (let n = 1; ; n++) {
    throwIfAborted(signal)
    const wake = options.wake?.()
    try {
      return await attempt(n, { signal })
    } catch (err) {
      if (signal?.aborted === true) throw abortReason(signal)
      if (n >= policy.maxAttempts || options.isRetryable?.(err) === false) throw err
      const delayMs = backoffDelayMs(policy, n, options.rng)
      options.onRetry?.(err, n, delayMs)
      await sleep(options.clock, delayMs, { signal, ...(wake != null ? { wake } : {}) })
    }
  }
}

/**
 * resolves after `ms` on the given clock, or as soon as `wake` fires; rejects with
 * AbortError/TimeoutError when the signal fires
 */
export async function sleep (clock: Clock, ms: number, options: AbortOptions & { wake?: AbortSignal } = {}): Promise<void> {
  const { signal, wake } = options
  throwIfAborted(signal)
  if (wake?.aborted === true) return
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      clock.clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      wake?.removeEventListener('abort', onWake)
    }
    const onAbort = (): void => {
      done()
      reject(abortReason(signal as AbortSignal))
    }
    const onWake = (): void => {
      done()
      resolve()
    }
    const timer = clock.setTimeout(() => {
      done()
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
    wake?.addEventListener('abort', onWake, { once: true })
  })
}
