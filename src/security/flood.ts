/**
 * FloodGuard: per-peer rate limits on what others make this peer do (publishes it validates,
 * streams and bytes on our protocols), and a decaying penalty for peers that send invalid or
 * excess messages. The penalty is gossipsub's application-specific score (`gossipScoreOptions`),
 * so a peer that keeps misbehaving drops below the graylist threshold and its RPCs are ignored.
 * Excess is dropped with a typed error (CapacityError), counted in
 * `agentmesh_flood_dropped_total{kind}` and logged at most once per peer and kind per interval.
 */
import { CapacityError } from '../errors.ts'
import { systemClock, type Clock } from '../util/clock.ts'
import { componentLogger, type Logger } from '../util/logger.ts'
import type { Counter, Telemetry } from '../monitoring/types.ts'
import {
  FLOOD_LOG_INTERVAL_MS, GOSSIP_THRESHOLD, GRAYLIST_THRESHOLD, MAX_PENALTY, MAX_RATE_LIMITED_PEERS,
  PENALTY_HALF_LIFE_MS, PENALTY_PER_OFFENCE, PUBLISH_BURST, PUBLISH_RATE_PER_S, PUBLISH_THRESHOLD,
  STREAM_BURST, STREAM_BYTES_BURST, STREAM_BYTES_PER_S, STREAM_RATE_PER_S
} from './constants.ts'
import { PeerRateLimiter } from './rate-limit.ts'

export type FloodKind = 'publish' | 'stream' | 'bytes' | 'invalid'

export interface FloodLimits {
  publishPerS: number
  publishBurst: number
  streamsPerS: number
  streamBurst: number
  bytesPerS: number
  bytesBurst: number
}

export const DEFAULT_FLOOD_LIMITS: FloodLimits = {
  publishPerS: PUBLISH_RATE_PER_S,
  publishBurst: PUBLISH_BURST,
  streamsPerS: STREAM_RATE_PER_S,
  streamBurst: STREAM_BURST,
  bytesPerS: STREAM_BYTES_PER_S,
  bytesBurst: STREAM_BYTES_BURST
}

export interface FloodGuardInit {
  limits?: Partial<FloodLimits>
  clock?: Clock
  telemetry?: Telemetry
}

interface Penalty { value: number, at: number }

export class FloodGuard {
  readonly limits: FloodLimits
  private readonly clock: Clock
  private readonly log: Logger = componentLogger('security:flood')
  private readonly publishes: PeerRateLimiter
  private readonly streams: PeerRateLimiter
  private readonly bytes: PeerRateLimiter
  private readonly penalties = new Map<string, Penalty>()
  private readonly lastLog = new Map<string, number>()
  private readonly dropped?: Counter

  constructor (init: FloodGuardInit = {}) {
    this.limits = { ...DEFAULT_FLOOD_LIMITS, ...init.limits }
    this.clock = init.clock ?? systemClock
    const clock = this.clock
    this.publishes = new PeerRateLimiter({ ratePerS: this.limits.publishPerS, burst: this.limits.publishBurst, clock })
    this.streams = new PeerRateLimiter({ ratePerS: this.limits.streamsPerS, burst: this.limits.streamBurst, clock })
    this.bytes = new PeerRateLimiter({ ratePerS: this.limits.bytesPerS, burst: this.limits.bytesBurst, clock })
    this.dropped = init.telemetry?.metrics.counter('agentmesh_flood_dropped_total', {
      help: 'messages, streams and bytes from other peers dropped for exceeding their rate or for being invalid, by kind',
      labelNames: ['kind']
    })
  }

  /** one more publish by `author` to validate: CapacityError (and a penalty) past its rate */
  admitPublish (author: string, topic: string): void {
    if (this.publishes.take(author)) return
    this.offend(author, 'publish', `publishes on ${topic} beyond ${this.limits.publishPerS}/s`)
  }

  /** a new inbound stream from `peer`: CapacityError past its rate */
  admitStream (peer: string, protocol: string): void {
    if (this.streams.take(peer)) return
    this.offend(peer, 'stream', `opens ${protocol} streams beyond ${this.limits.streamsPerS}/s`)
  }

  /** `n` more inbound bytes from `peer`: CapacityError past its rate */
  admitBytes (peer: string, protocol: string, n: number): void {
    if (this.bytes.take(peer, n)) return
    this.offend(peer, 'bytes', `sends ${protocol} data beyond ${this.limits.bytesPerS} B/s`)
  }

  /** a validator rejected a message `peer` sent us */
  reportInvalid (peer: string, topic: string): void {
    this.penalize(peer, 'invalid', `sent an invalid message on ${topic}`)
  }

  /** the current penalty of `peer` (decayed), >= 0 */
  penalty (peer: string): number {
    const p = this.penalties.get(peer)
    if (p === undefined) return 0
    const value = p.value * Math.pow(0.5, (this.clock.monotonic() - p.at) / PENALTY_HALF_LIFE_MS)
    if (value < 0.5) { this.penalties.delete(peer); return 0 }
    return value
  }

  /** gossipsub options: our penalty as the application score, thresholds that graylist offenders */
  gossipScoreOptions (localMesh: boolean): { scoreParams: Record<string, unknown>, scoreThresholds: Record<string, number> } {
    return {
      scoreParams: {
        appSpecificScore: (peer: string) => -this.penalty(peer),
        appSpecificWeight: 1,
        // every peer of a local mesh shares 127.0.0.1: don't count that against them
        ...(localMesh ? { IPColocationFactorWeight: 0 } : {})
      },
      scoreThresholds: {
        gossipThreshold: GOSSIP_THRESHOLD,
        publishThreshold: PUBLISH_THRESHOLD,
        graylistThreshold: GRAYLIST_THRESHOLD
      }
    }
  }

  private offend (peer: string, kind: FloodKind, what: string): never {
    this.penalize(peer, kind, what)
    throw new CapacityError(`peer ${peer} ${what}: dropped`)
  }

  private penalize (peer: string, kind: FloodKind, what: string): void {
    this.dropped?.inc(1, { kind })
    const now = this.clock.monotonic()
    const value = Math.min(MAX_PENALTY, this.penalty(peer) + PENALTY_PER_OFFENCE)
    if (!this.penalties.has(peer) && this.penalties.size >= MAX_RATE_LIMITED_PEERS) this.penalties.delete(this.penalties.keys().next().value!)
    this.penalties.set(peer, { value, at: now })
    const key = `${peer}\u0000${kind}`
    const last = this.lastLog.get(key)
    if (last !== undefined && now - last < FLOOD_LOG_INTERVAL_MS) return
    if (this.lastLog.size >= MAX_RATE_LIMITED_PEERS) this.lastLog.clear()
    this.lastLog.set(key, now)
    this.log.error('throttling %s: it %s (penalty %d)', peer, what, Math.round(value))
  }
}
