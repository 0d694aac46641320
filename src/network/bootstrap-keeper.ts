/**
 * Keeps a bootstrap peer connected. A peer with a bootstrap list (a Node peer's relay, a tab's
 * relay) needs a connection to one of them, not merely some connection: tabs reach Node peers
 * through the relay, the relay is usually a Raft voter, and gossip alone may not bring it back.
 * Seen in failover-processes setup at load ~25: a Node peer lost its relay connection, its probe
 * of the relay failed, and because it still had a connection to another Node peer nothing dialled
 * the relay again; the setup timed out 60 s later.
 *
 * Checked on the network manager's failure-check tick (no timer of its own): when no bootstrap
 * peer is connected, the list is dialled after a jittered wait that doubles with every attempt
 * (BOOTSTRAP_REDIAL_MIN_MS .. BOOTSTRAP_REDIAL_MAX_MS: a relay that is down is not hammered, one
 * that comes back is found within BOOTSTRAP_REDIAL_MAX_MS).
 * The attempt count goes back to zero once a bootstrap connection has held for
 * BOOTSTRAP_REDIAL_STABLE_MS: a relay that accepts and then drops us at once (overloaded, pruning
 * connections) still sees the growing backoff.
 *
 * It is the only loop that dials the bootstrap list: a discovery round (the first one at start
 * included) asks it for one attempt now (`dialNow`) and goes on with what it has; when that
 * attempt fails the keeper's backoff takes over, and its reconnect starts a discovery round again.
 * `status()` says whether a bootstrap peer is connected and since when none is (the `network`
 * health component reports it).
 */
import { describeError } from '../errors.ts'
import { raceSignal, type AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Rng } from '../util/prng.ts'
import type { Logger } from '../util/logger.ts'
import { BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS, BOOTSTRAP_REDIAL_STABLE_MS } from './constants.ts'

export interface BootstrapKeeperInit {
  /** the bootstrap multiaddrs (empty: the keeper does nothing) */
  bootstrap: readonly string[]
  /** dials one address; resolves once connected */
  dial: (addr: string, options: { signal: AbortSignal }) => Promise<unknown>
  /** an open connection to the peer `addr` names */
  isConnectedTo: (addr: string) => boolean
  dialTimeoutMs: () => number
  /** a redial of the keeper's own (not one asked for with dialNow) connected: e.g. look for the members again */
  onReconnected?: () => void
  clock: Clock
  rng: Rng
  log: Logger
  /** aborted when the network manager stops: dials in flight end, nothing is scheduled after */
  stopSignal: AbortSignal
}

/** the wait before redial attempt `attempt` (0 = the first after a loss): doubling, capped, jittered to [half, whole] */
export function bootstrapRedialDelayMs (attempt: number, rng: Rng): number {
  const base = Math.min(BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS * 2 ** Math.min(attempt, 30))
  return Math.round(base / 2 + rng.next() * base / 2)
}

/** what the keeper knows of the bootstrap list, for health */
export interface BootstrapStatus {
  /** bootstrap addresses configured (0: the keeper does nothing, e.g. on a relay) */
  configured: number
  /** a bootstrap peer is connected now */
  connected: boolean
  /** while none is: how long since one was last seen connected (undefined: never yet) */
  lostForMs?: number
  /** dial attempts since a bootstrap connection last held */
  attempts: number
  /** why the last attempt failed, while none is connected */
  lastError?: string
}

export class BootstrapKeeper {
  private readonly init: BootstrapKeeperInit
  /** redial attempts since a bootstrap connection last held for BOOTSTRAP_REDIAL_STABLE_MS */
  private attempts = 0
  /** monotonic time of the next attempt while no bootstrap peer is connected */
  private nextAttemptAt: number | undefined
  /** since when (monotonic) a bootstrap peer has been connected without a break */
  private connectedSince: number | undefined
  /** when (monotonic) a bootstrap peer was last seen connected */
  private lastSeenConnectedAt: number | undefined
  private lastError: string | undefined
  /** the attempt in flight (resolves true when a bootstrap peer answered) */
  private dialing: Promise<boolean> | undefined

  constructor (init: BootstrapKeeperInit) {
    this.init = init
  }

  /** whether a bootstrap peer is connected, and since when none is */
  status (): BootstrapStatus {
    const { bootstrap, clock } = this.init
    const connected = this.anyConnected()
    const out: BootstrapStatus = { configured: bootstrap.length, connected, attempts: this.attempts }
    if (!connected && this.lastSeenConnectedAt !== undefined) out.lostForMs = Math.max(0, clock.monotonic() - this.lastSeenConnectedAt)
    if (!connected && this.lastError !== undefined) out.lastError = this.lastError
    return out
  }

  /**
   * One attempt now, for a discovery round: true once a bootstrap peer is connected (at once if
   * one already is; an attempt already in flight is joined, not doubled). A failed attempt counts
   * toward the backoff, and the keeper's ticks go on trying. AbortError when `signal` fires first
   * (the attempt itself ends with its dial timeout or the keeper's stop).
   */
  async dialNow (options: AbortOptions = {}): Promise<boolean> {
    if (this.init.bootstrap.length === 0 || this.init.stopSignal.aborted) return false
    if (this.anyConnected()) return true
    return await raceSignal(this.dialing ?? this.redial(false), options.signal)
  }

  private anyConnected (): boolean {
    const connected = this.init.bootstrap.some(a => this.init.isConnectedTo(a))
    if (connected) this.lastSeenConnectedAt = this.init.clock.monotonic()
    return connected
  }

  /** Called on every failure-check tick: notices a lost bootstrap connection and redials when due. */
  tick (): void {
    const { bootstrap, clock, stopSignal } = this.init
    if (bootstrap.length === 0 || stopSignal.aborted || this.dialing !== undefined) return
    const now = clock.monotonic()
    if (this.anyConnected()) {
      this.nextAttemptAt = undefined
      this.lastError = undefined
      this.connectedSince ??= now
      if (this.attempts > 0 && now - this.connectedSince >= BOOTSTRAP_REDIAL_STABLE_MS) {
        this.init.log('bootstrap connection held for %d ms: redial backoff reset', now - this.connectedSince)
        this.attempts = 0
      }
      return
    }
    if (this.nextAttemptAt == null) {
      const waitMs = bootstrapRedialDelayMs(this.attempts, this.init.rng)
      this.nextAttemptAt = now + waitMs
      this.init.log('no bootstrap peer connected (%s): dialling the list again in %d ms', this.connectedSince != null ? 'connection lost' : 'none yet', waitMs)
      this.connectedSince = undefined
      return
    }
    if (now < this.nextAttemptAt) return
    void this.redial(true)
  }

  /** dials the whole list once; `own`: the keeper's backoff asked for it (else a discovery round did) */
  private async redial (own: boolean): Promise<boolean> {
    const { bootstrap, stopSignal } = this.init
    this.nextAttemptAt = undefined
    this.attempts++
    const signal = AbortSignal.any([stopSignal, AbortSignal.timeout(this.init.dialTimeoutMs())])
    const attempt = Promise.allSettled(bootstrap.map(async a => await this.init.dial(a, { signal })))
      .then(results => {
        if (stopSignal.aborted) return false
        const ok = results.filter(r => r.status === 'fulfilled').length
        const now = this.init.clock.monotonic()
        if (ok > 0) {
          this.connectedSince = now
          this.lastSeenConnectedAt = now
          this.lastError = undefined
          this.init.log('%s to %d of %d bootstrap peers (attempt %d)', own ? 'reconnected' : 'connected', ok, bootstrap.length, this.attempts)
          if (own) this.init.onReconnected?.()
          return true
        }
        const waitMs = bootstrapRedialDelayMs(this.attempts, this.init.rng)
        this.nextAttemptAt = now + waitMs
        const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
        this.lastError = describeError(first?.reason).message
        this.init.log('no bootstrap peer answered (%d attempts in a row); next try in %d ms: %s', this.attempts, waitMs, this.lastError)
        return false
      })
      .finally(() => { this.dialing = undefined })
    this.dialing = attempt
    return await attempt
  }
}

