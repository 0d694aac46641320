/**
 * Is this peer's wall clock the odd one out? Every record and heartbeat a peer publishes carries
 * its wall clock (`ts`); the offset of that stamp from our own clock when it arrives says how far
 * the peer's clock is from ours (less a gossip hop). When most peers heard from recently are more
 * than CLOCK_SKEW_OUTLIER_MS off in the same direction, the wrong clock is ours: the hybrid logical
 * clock's drift bound cuts such a peer off from messaging, so it must not keep agents nobody can
 * reach (the agent layer hands them off on `network:clock-skew`).
 *
 * One other peer far off is no evidence against us (either clock could be wrong); two peers off in
 * opposite directions neither. The verdict must hold CLOCK_SKEW_SETTLE_MS before it is reported.
 *
 * Peers behind us are judged against the furthest our wall clock has read (`highWaterMs`), not
 * its reading now: our hybrid logical clock never goes back, so after a clock that ran ahead is
 * set right our stamps stay ahead (and refused) until real time catches up with them. The
 * verdict clears only then.
 */
import type { Clock, TimerHandle } from '../util/clock.ts'
import {
  CLOCK_SAMPLE_MAX_AGE_MS, CLOCK_SKEW_CHECK_INTERVAL_MS, CLOCK_SKEW_HYSTERESIS_MS, CLOCK_SKEW_OUTLIER_MS, CLOCK_SKEW_SETTLE_MS,
  MAX_CLOCK_SAMPLES, MIN_CLOCK_SKEW_PEERS
} from './constants.ts'
import type { ClockSkewStatus } from './types.ts'

export interface ClockSkewBounds {
  /** offsets beyond this (either way) are far; default CLOCK_SKEW_OUTLIER_MS */
  boundMs?: number
  /** fewer offsets than this: no verdict; default MIN_CLOCK_SKEW_PEERS */
  minPeers?: number
}

/**
 * the verdict over peers' offsets (their clock minus ours, ms): an outlier when a strict majority
 * of them is beyond the bound in the same direction. `leadMs` (>= 0): how far our stamps run ahead
 * of our clock now (see highWaterMs); a peer counts as behind when its offset minus it is beyond
 * the bound
 */
export function assessClockSkew (offsetsMs: readonly number[], bounds: ClockSkewBounds = {}, leadMs = 0): ClockSkewStatus {
  const boundMs = bounds.boundMs ?? CLOCK_SKEW_OUTLIER_MS
  const sorted = [...offsetsMs].filter(Number.isFinite).sort((a, b) => a - b)
  const n = sorted.length
  const lead = Math.max(0, leadMs)
  const behind = sorted.filter(o => o - lead < -boundMs).length
  const median = n === 0 ? 0 : Math.round(n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2) - (behind * 2 > n ? lead : 0)
  const ahead = sorted.filter(o => o > boundMs).length
  const outlier = n >= (bounds.minPeers ?? MIN_CLOCK_SKEW_PEERS) && Math.max(ahead, behind) * 2 > n
  return { outlier, offsetMs: median, peers: n, farPeers: ahead + behind }
}

export interface ClockSkewDetectorInit {
  clock: Clock
  /** called with the new settled status when `outlier` changes */
  onChange: (status: ClockSkewStatus) => void
  outlierMs?: number
  hysteresisMs?: number
  minPeers?: number
  checkIntervalMs?: number
  settleMs?: number
  sampleMaxAgeMs?: number
}

interface Sample { offsetMs: number, at: number }

export class ClockSkewDetector {
  private readonly init: ClockSkewDetectorInit
  /** per peer: its clock minus ours at its last stamp, and when that arrived (monotonic) */
  private readonly samples = new Map<string, Sample>()
  private timer: TimerHandle | undefined
  private settled: ClockSkewStatus = { outlier: false, offsetMs: 0, peers: 0, farPeers: 0 }
  private pendingSince: number | undefined
  /** the furthest our wall clock has read: our HLC stamps are at least this */
  private highWaterMs = 0

  constructor (init: ClockSkewDetectorInit) {
    this.init = init
  }

  start (): void {
    if (this.timer !== undefined) return
    this.timer = this.init.clock.setInterval(() => { this.check() }, this.init.checkIntervalMs ?? CLOCK_SKEW_CHECK_INTERVAL_MS)
  }

  stop (): void {
    this.init.clock.clearInterval(this.timer)
    this.timer = undefined
    this.pendingSince = undefined
  }

  /** a stamp of `peerId`'s wall clock just arrived (a record or heartbeat it signed) */
  observe (peerId: string, remoteWallMs: number): void {
    if (!Number.isFinite(remoteWallMs)) return
    const now = this.readWall()
    if (!this.samples.has(peerId) && this.samples.size >= MAX_CLOCK_SAMPLES) {
      const oldest = this.samples.keys().next().value
      if (oldest !== undefined) this.samples.delete(oldest)
    }
    this.samples.delete(peerId) // re-inserted last: the map stays in arrival order
    this.samples.set(peerId, { offsetMs: remoteWallMs - now, at: this.init.clock.monotonic() })
  }

  /** the peer left or failed: its last stamp says nothing any more */
  forget (peerId: string): void {
    this.samples.delete(peerId)
  }

  /** the settled verdict, refreshed at every check while it holds */
  status (): ClockSkewStatus {
    return this.settled
  }

  /** the verdict over the stamps heard now, before it settles */
  assess (): ClockSkewStatus {
    const leadMs = this.highWaterMs - this.readWall()
    const now = this.init.clock.monotonic()
    const maxAge = this.init.sampleMaxAgeMs ?? CLOCK_SAMPLE_MAX_AGE_MS
    const offsets: number[] = []
    for (const [peer, s] of this.samples) {
      if (now - s.at > maxAge) this.samples.delete(peer)
      else offsets.push(s.offsetMs)
    }
    const outlierMs = this.init.outlierMs ?? CLOCK_SKEW_OUTLIER_MS
    // once an outlier, it stays one until most peers are well within the bound (no flapping at its edge)
    const boundMs = this.settled.outlier ? outlierMs - (this.init.hysteresisMs ?? CLOCK_SKEW_HYSTERESIS_MS) : outlierMs
    return assessClockSkew(offsets, { boundMs, ...(this.init.minPeers != null ? { minPeers: this.init.minPeers } : {}) }, leadMs)
  }

  private readWall (): number {
    const now = this.init.clock.now()
    if (now > this.highWaterMs) this.highWaterMs = now
    return now
  }

  /** re-judges now; reports a changed verdict once it has held for the settle time */
  check (): void {
    const now = this.init.clock.monotonic()
    const latest = this.assess()
    if (latest.outlier === this.settled.outlier) {
      this.pendingSince = undefined
      this.settled = latest
      return
    }
    this.pendingSince ??= now
    if (now - this.pendingSince < (this.init.settleMs ?? CLOCK_SKEW_SETTLE_MS)) return
    this.settled = latest
    this.pendingSince = undefined
    this.init.onChange(latest)
  }
}

/**
 * The `clock` health component: degraded while this peer's clock is the outlier (its messages are
 * refused or it refuses the others', and it hands its agents off); ok otherwise.
 */
export function clockSkewHealth (s: ClockSkewStatus): { status: 'ok' | 'degraded', detail?: string, offsetMs: number, peers: number, farPeers: number } {
  const facts = { offsetMs: s.offsetMs, peers: s.peers, farPeers: s.farPeers }
  if (!s.outlier) return { status: 'ok', ...facts }
  const dir = s.offsetMs > 0 ? 'behind' : 'ahead of'
  return { status: 'degraded', detail: `this peer's wall clock is ~${Math.round(Math.abs(s.offsetMs) / 1000)} s ${dir} ${s.farPeers} of the ${s.peers} peers heard from: its messages are refused, its agents are handed off and it takes no new ones until the clock is fixed`, ...facts }
}
