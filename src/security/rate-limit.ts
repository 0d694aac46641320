/**
 * Token buckets, one per peer: `take` answers whether the peer may do one more thing (or spend n
 * units) now. Time comes from the injected clock; the map of peers is bounded.
 */
import { systemClock, type Clock } from '../util/clock.ts'
import { MAX_RATE_LIMITED_PEERS } from './constants.ts'

export class TokenBucket {
  private tokens: number
  private at: number

  constructor (readonly ratePerS: number, readonly burst: number, now: number) {
    this.tokens = burst
    this.at = now
  }

  take (n: number, now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.at) / 1000) * this.ratePerS)
    this.at = now
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }
}

export interface PeerRateLimiterInit {
  ratePerS: number
  burst: number
  maxPeers?: number
  clock?: Clock
}

export class PeerRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>()
  private readonly init: PeerRateLimiterInit
  private readonly clock: Clock

  constructor (init: PeerRateLimiterInit) {
    this.init = init
    this.clock = init.clock ?? systemClock
  }

  /** true when `peer` may spend `n` now (and it is spent) */
  take (peer: string, n = 1): boolean {
    const now = this.clock.monotonic()
    let b = this.buckets.get(peer)
    if (b === undefined) {
      if (this.buckets.size >= (this.init.maxPeers ?? MAX_RATE_LIMITED_PEERS)) this.buckets.delete(this.buckets.keys().next().value!)
      b = new TokenBucket(this.init.ratePerS, this.init.burst, now)
    } else {
      this.buckets.delete(peer) // re-inserted below: the map's order is least recently seen first
    }
    this.buckets.set(peer, b)
    return b.take(n, now)
  }

  get size (): number {
    return this.buckets.size
  }
}
