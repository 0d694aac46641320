/**
 * Keeps a bootstrap peer connected. A peer with a bootstrap list (a Node peer's relay, a tab's
 * relay) needs a connection to one of them, not merely some connection: tabs reach Node peers
 * through the relay, the relay is usually a Raft voter, and gossip alone may not bring it back.
 * Seen in failover-processes setup at load ~25: a Node peer lost its relay connection, its probe
 * of the relay failed, and because it still had a connection to another Node peer nothing dialled
 * the relay again; the setup timed out 60 s later.
 *
 * The list is fixed for the keeper's life and parsed once, when it is built (a bad address is an
 * InvalidArgumentError then, not a throw on every tick).
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
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { InvalidArgumentError, describeError } from '../errors.ts'
import { raceSignal, type AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Rng } from '../util/prng.ts'
import type { Logger } from '../util/logger.ts'
import { BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS, BOOTSTRAP_REDIAL_STABLE_MS } from './constants.ts'

/** one bootstrap address, parsed once (the keeper asks about it on every tick) */
export interface BootstrapTarget {
  /** as configured */
  readonly text: string
  readonly addr: Multiaddr
  /** the peer the address names, if it names one */
  readonly peer?: PeerId
}

/** parses the bootstrap list; InvalidArgumentError naming the first address that is no multiaddr (or names no valid peer id) */
export function parseBootstrapTargets (list: readonly string[]): BootstrapTarget[] {
  return list.map(text => {
    try {
      const addr = multiaddr(text)
      const id = addr.getComponents().find(c => c.name === 'p2p')?.value
      return id != null ? { text, addr, peer: peerIdFromString(id) } : { text, addr }
    } catch (err) {
      throw new InvalidArgumentError(`bootstrap address is not a multiaddr with a valid peer id: ${text}: ${describeError(err).message}`, { cause: err })
    }
  })
}

export interface BootstrapKeeperInit {
  /** the bootstrap multiaddrs (empty: the keeper does nothing); parsed once, at construction */
  bootstrap: readonly string[]
  /** dials one address; resolves once connected */
  dial: (target: BootstrapTarget, options: { signal: AbortSignal }) => Promise<unknown>
  /** an open connection to the peer `target` names (or, without a peer id, to that address) */
  isConnectedTo: (target: BootstrapTarget) => boolean
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
  private readonly targets: readonly BootstrapTarget[]
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

  /** InvalidArgumentError when a bootstrap address is no multiaddr */
  constructor (init: BootstrapKeeperInit) {
    this.init = init
    this.targets = parseBootstrapTargets(init.bootstrap)
  }

  /** whether a bootstrap peer is connected, and since when none is */
  status (): BootstrapStatus {
    const { clock } = this.init
    const connected = this.anyConnected()
    const out: BootstrapStatus = { configured: this.targets.length, connected, attempts: this.attempts }
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
    if (this.targets.length === 0 || this.init.stopSignal.aborted) return false
    if (this.anyConnected()) return true
    return await raceSignal(this.dialing ?? this.redial(false), options.signal)
  }

  private anyConnected (): boolean {
    const connected = this.targets.some(t => this.init.isConnectedTo(t))
    if (connected) this.lastSeenConnectedAt = this.init.clock.monotonic()
    return connected
  }

  /** Called on every failure-check tick: notices a lost bootstrap connection and redials when due. */
  tick (): void {
    const { clock, stopSignal } = this.init
    if (this.targets.length === 0 || stopSignal.aborted || this.dialing !== undefined) return
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
    const { stopSignal } = this.init
    const targets = this.targets
    this.nextAttemptAt = undefined
    this.attempts++
    const signal = AbortSignal.any([stopSignal, AbortSignal.timeout(this.init.dialTimeoutMs())])
    const attempt = Promise.allSettled(targets.map(async t => await this.init.dial(t, { signal })))
      .then(results => {
        if (stopSignal.aborted) return false
        const ok = results.filter(r => r.status === 'fulfilled').length
        const now = this.init.clock.monotonic()
        if (ok > 0) {
          this.connectedSince = now
          this.lastSeenConnectedAt = now
          this.lastError = undefined
          this.init.log('%s to %d of %d bootstrap peers (attempt %d)', own ? 'reconnected' : 'connected', ok, targets.length, this.attempts)
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

