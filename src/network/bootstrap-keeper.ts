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
 */
import { describeError } from '../errors.ts'
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
  /** another discovery round (which dials the bootstrap list itself) is under way: leave it be */
  busy: () => boolean
  /** a redial connected: e.g. look for the members again */
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

export class BootstrapKeeper {
  private readonly init: BootstrapKeeperInit
  /** redial attempts since a bootstrap connection last held for BOOTSTRAP_REDIAL_STABLE_MS */
  private attempts = 0
  /** monotonic time of the next attempt while no bootstrap peer is connected */
  private nextAttemptAt: number | undefined
  /** since when (monotonic) a bootstrap peer has been connected without a break */
  private connectedSince: number | undefined
  private dialing = false

  constructor (init: BootstrapKeeperInit) {
    this.init = init
  }

  /** Called on every failure-check tick: notices a lost bootstrap connection and redials when due. */
  tick (): void {
    const { bootstrap, clock, stopSignal } = this.init
    if (bootstrap.length === 0 || stopSignal.aborted || this.dialing) return
    const now = clock.monotonic()
    if (bootstrap.some(a => this.init.isConnectedTo(a))) {
      this.nextAttemptAt = undefined
      this.connectedSince ??= now
      if (this.attempts > 0 && now - this.connectedSince >= BOOTSTRAP_REDIAL_STABLE_MS) {
        this.init.log('bootstrap connection held for %d ms: redial backoff reset', now - this.connectedSince)
        this.attempts = 0
      }
      return
    }
    // the initial discovery round retries the bootstrap list itself
    if (this.init.busy()) return
    if (this.nextAttemptAt == null) {
      const waitMs = bootstrapRedialDelayMs(this.attempts, this.init.rng)
      this.nextAttemptAt = now + waitMs
      this.init.log('no bootstrap peer connected (%s): dialling the list again in %d ms', this.connectedSince != null ? 'connection lost' : 'none yet', waitMs)
      this.connectedSince = undefined
      return
    }
    if (now < this.nextAttemptAt) return
    this.redial()
  }

  private redial (): void {
    const { bootstrap, stopSignal } = this.init
    this.dialing = true
    this.nextAttemptAt = undefined
    this.attempts++
    const signal = AbortSignal.any([stopSignal, AbortSignal.timeout(this.init.dialTimeoutMs())])
    Promise.allSettled(bootstrap.map(async a => await this.init.dial(a, { signal })))
      .then(results => {
        if (stopSignal.aborted) return
        const ok = results.filter(r => r.status === 'fulfilled').length
        const now = this.init.clock.monotonic()
        if (ok > 0) {
          this.connectedSince = now
          this.init.log('reconnected to %d of %d bootstrap peers (attempt %d)', ok, bootstrap.length, this.attempts)
          this.init.onReconnected?.()
          return
        }
        const waitMs = bootstrapRedialDelayMs(this.attempts, this.init.rng)
        this.nextAttemptAt = now + waitMs
        const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
        this.init.log('no bootstrap peer answered (%d attempts in a row); next try in %d ms: %s', this.attempts, waitMs, describeError(first?.reason).message)
      })
      .finally(() => { this.dialing = false })
  }
}

