/**
 * The turn-based mailbox of one agent activation: messages are handled one at a time, in arrival
 * order, from a bounded queue.
 *
 * - A handler that throws, or has not settled after `handlerTimeoutMs`, is a failure: the mailbox
 *   stops for an exponential backoff (a "restart") and then tries the same message again. After
 *   `maxTries` failed tries the message is quarantined and its caller gets PoisonMessageError.
 *   A timed-out handler's turn signal is aborted and its late result ignored: one hung handler
 *   must not stall the agent forever.
 * - A handler that throws one of our 4xx errors (InvalidArgumentError, NotFoundError, ...) has
 *   answered: the caller gets that error at once; no retry, no restart.
 * - Message ids are remembered for `dedupWindowMs`: a retried delivery of an id is handled once
 *   and gets the first handling's outcome again, except a NotOwnerError (this peer did not answer
 *   for the agent): that id is forgotten, so its retry consults the replicated reply records.
 * - pause() lets the current turn finish and queues the rest; drain() hands the queued messages
 *   over (on migration) so the new owner can handle them and settle their callers.
 */
import { TypedEventEmitter } from 'main-event'
import { AgentMeshError, CapacityError, InvalidArgumentError, NotOwnerError, NotStartedError, TimeoutError } from '../errors.ts'
import type { Telemetry } from '../monitoring/types.ts'
import { deferred, raceSignal } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import { systemClock } from '../util/clock.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import type { Logger } from '../util/logger.ts'
import {
  DEDUP_MAX_ENTRIES, DEDUP_WINDOW_MS, HANDLER_TIMEOUT_MS, MAILBOX_CAPACITY, MAX_MESSAGE_ID_CHARS, MAX_MESSAGE_TRIES,
  QUARANTINE_MAX_ENTRIES, RESTART_BACKOFF_BASE_MS, RESTART_BACKOFF_MAX_MS
} from './constants.ts'
import { PoisonMessageError } from './errors.ts'
import { createMailboxMetrics } from './metrics.ts'
import { ReplyCache } from './reply-cache.ts'
import type { MailboxMetrics } from './metrics.ts'
import type { JsonValue } from './types.ts'

/** ids the mailbox makes up for messages sent without one (never recorded as replies) */
export const LOCAL_ID_PREFIX = 'local-'

/** where a durable send came from: its sender and its place in that sender's channel to the agent */
export interface MessageOrigin {
  /** the sender's peer id */
  sender: string
  /** the outbox sequence number, from 1 */
  seq: number
}

export interface Turn {
  /** the message id (given by the sender, or made up by the mailbox) */
  id: string
  /** a durable send's sender and sequence number (reply-records.ts) */
  origin?: MessageOrigin
  /** 1 for the first try */
  attempt: number
  /** aborted when the handler times out or the turn ends */
  signal: AbortSignal
  /** the sender's W3C traceparent, if it gave one */
  traceparent?: string
}

export type TurnHandler = (message: JsonValue, turn: Turn) => Promise<JsonValue>

export interface MailboxInit {
  /** the agent id, for logs and events */
  agentId: string
  /** the agent kind, the metrics label */
  kind: string
  handler: TurnHandler
  capacity?: number
  handlerTimeoutMs?: number
  maxTries?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  dedupWindowMs?: number
  dedupMaxEntries?: number
  quarantineMax?: number
  /**
   * replies recorded elsewhere (the agent's replicated reply records): a message id found there
   * was handled by an earlier owner and gets that reply instead of a turn
   */
  recorded?: (id: string, origin?: MessageOrigin) => { reply: JsonValue } | undefined
  /** start paused (e.g. until the activation has started); resume() to begin */
  paused?: boolean
  clock?: Clock
  telemetry?: Telemetry
  logger?: Logger
}

export interface PostOptions extends AbortOptions {
  /** the message id, for dedup of retried deliveries */
  id?: string
  /** the sender's W3C traceparent, handed to the turn */
  traceparent?: string
  /** a durable send's sender and sequence number: dedup by the sender's sequence mark */
  origin?: MessageOrigin
}

export interface FailureDetail {
  agentId: string
  messageId: string
  attempt: number
  reason: 'error' | 'timeout'
  error: Error
}

export interface QuarantinedMessage {
  agentId: string
  messageId: string
  message: JsonValue
  tries: number
  error: { name: string, message: string }
  at: number
}

/** a queued message handed over by drain(): whoever handles it settles its caller */
export interface DrainedMessage {
  id: string
  message: JsonValue
  tries: number
  enqueuedAt: number
  traceparent?: string
  origin?: MessageOrigin
  resolve: (reply: JsonValue) => void
  reject: (err: unknown) => void
}

export interface MailboxEvents {
  'message:failed': CustomEvent<FailureDetail>
  'message:quarantined': CustomEvent<QuarantinedMessage>
  'mailbox:restarted': CustomEvent<{ agentId: string, failures: number, delayMs: number }>
}

interface Entry {
  id: string
  message: JsonValue
  tries: number
  enqueuedAt: number
  traceparent?: string
  origin?: MessageOrigin
  outcome: ReturnType<typeof deferred<JsonValue>>
}

function positive (n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`mailbox ${what} must be > 0`)
  return n
}

/** one of our errors that means "the request was wrong", not "the handler failed" */
function isAnswer (err: unknown): boolean {
  return err instanceof AgentMeshError && err.status >= 400 && err.status < 500 && err.name !== 'TimeoutError' && err.name !== 'AbortError'
}

export class Mailbox extends TypedEventEmitter<MailboxEvents> {
  readonly agentId: string
  readonly kind: string
  private readonly handler: TurnHandler
  private readonly capacity: number
  private readonly handlerTimeoutMs: number
  private readonly maxTries: number
  private readonly backoffBaseMs: number
  private readonly backoffMaxMs: number
  private readonly quarantineMax: number
  private readonly clock: Clock
  private readonly log: Logger
  private readonly metrics: MailboxMetrics
  private readonly queue: Entry[] = []
  private readonly replies: ReplyCache
  private readonly recorded?: (id: string, origin?: MessageOrigin) => { reply: JsonValue } | undefined
  private readonly quarantine: QuarantinedMessage[] = []
  private current?: Entry
  private idleWaiters: Array<() => void> = []
  private backoffTimer?: TimerHandle
  private consecutiveFailures = 0
  private isPaused = false
  private closed = false
  private seq = 0

  constructor (init: MailboxInit) {
    super()
    this.agentId = init.agentId
    this.kind = init.kind
    this.handler = init.handler
    this.capacity = positive(init.capacity ?? MAILBOX_CAPACITY, 'capacity')
    this.handlerTimeoutMs = positive(init.handlerTimeoutMs ?? HANDLER_TIMEOUT_MS, 'handlerTimeoutMs')
    this.maxTries = positive(init.maxTries ?? MAX_MESSAGE_TRIES, 'maxTries')
    this.backoffBaseMs = init.backoffBaseMs ?? RESTART_BACKOFF_BASE_MS
    this.backoffMaxMs = init.backoffMaxMs ?? RESTART_BACKOFF_MAX_MS
    const dedupWindowMs = init.dedupWindowMs ?? DEDUP_WINDOW_MS
    const dedupMaxEntries = positive(init.dedupMaxEntries ?? DEDUP_MAX_ENTRIES, 'dedupMaxEntries')
    this.quarantineMax = positive(init.quarantineMax ?? QUARANTINE_MAX_ENTRIES, 'quarantineMax')
    if (!(this.backoffBaseMs >= 0 && this.backoffMaxMs >= this.backoffBaseMs && dedupWindowMs >= 0)) {
      throw new InvalidArgumentError('mailbox: need 0 <= backoffBaseMs <= backoffMaxMs and dedupWindowMs >= 0')
    }
    this.clock = init.clock ?? systemClock
    this.replies = new ReplyCache(this.clock, dedupWindowMs, dedupMaxEntries)
    this.log = init.logger ?? componentLogger('agents:mailbox')
    this.metrics = createMailboxMetrics(init.telemetry)
    this.isPaused = init.paused === true
    if (init.recorded != null) this.recorded = init.recorded
  }

  /** messages waiting (the one being handled not included) */
  get size (): number { return this.queue.length }
  get paused (): boolean { return this.isPaused }
  /** a turn is running */
  get busy (): boolean { return this.current != null }

  /**
   * Queues a message; resolves with the handler's reply. A known id gets the first outcome again.
   * CapacityError when the queue is full, NotStartedError once closed, PoisonMessageError when
   * the message failed `maxTries` times. The caller's signal detaches the caller only: the message
   * stays queued, so a retry with the same id gets its reply.
   */
  async post (message: JsonValue, options: PostOptions = {}): Promise<JsonValue> {
    if (options.id != null && (typeof options.id !== 'string' || options.id.length === 0 || options.id.length > MAX_MESSAGE_ID_CHARS)) {
      throw new InvalidArgumentError(`message id must be 1-${MAX_MESSAGE_ID_CHARS} chars`)
    }
    if (options.id != null) {
      const known = this.replies.get(options.id)
      if (known != null) {
        this.metrics.dedupHits.inc(1, { kind: this.kind })
        return await raceSignal(known, options.signal)
      }
      const earlier = this.recorded?.(options.id, options.origin)
      if (earlier != null) {
        this.metrics.dedupHits.inc(1, { kind: this.kind })
        return earlier.reply
      }
    }
    if (this.closed) throw new NotStartedError(`agent ${this.agentId}'s mailbox is closed`)
    if (this.queue.length >= this.capacity) {
      this.metrics.turns.inc(1, { kind: this.kind, outcome: 'refused' })
      // not the agent's verdict on the message: a durable send is tried again later (retryable)
      throw new CapacityError(`agent ${this.agentId}'s mailbox is full (${this.capacity} messages)`, { details: { agentId: this.agentId, retryable: true } })
    }
    const entry: Entry = {
      id: options.id ?? `${LOCAL_ID_PREFIX}${++this.seq}`,
      message,
      tries: 0,
      enqueuedAt: this.clock.now(),
      outcome: deferred<JsonValue>()
    }
    if (options.traceparent != null) entry.traceparent = options.traceparent
    if (options.origin != null) entry.origin = options.origin
    entry.outcome.promise.catch(() => {})
    this.replies.add(entry.id, entry.outcome.promise)
    this.queue.push(entry)
    this.pump()
    return await raceSignal(entry.outcome.promise, options.signal)
  }

  /** stops taking turns after the current one; resolves when no turn is running */
  async pause (options: AbortOptions = {}): Promise<void> {
    this.isPaused = true
    await raceSignal(this.idle(), options.signal)
  }

  resume (): void {
    if (this.closed) return
    this.isPaused = false
    this.pump()
  }

  /**
   * Pauses and hands over every queued message (not the one in a running turn). Their ids are
   * forgotten here: the new owner handles them.
   */
  drain (): DrainedMessage[] {
    this.isPaused = true
    const out = this.queue.splice(0).map((e): DrainedMessage => {
      this.replies.delete(e.id)
      const d: DrainedMessage = { id: e.id, message: e.message, tries: e.tries, enqueuedAt: e.enqueuedAt, resolve: e.outcome.resolve, reject: e.outcome.reject }
      if (e.traceparent != null) d.traceparent = e.traceparent
      if (e.origin != null) d.origin = e.origin
      return d
    })
    return out
  }

  /** refuses new messages and fails the queued ones with `error`; a running turn finishes */
  close (error: Error = new NotStartedError(`agent ${this.agentId} stopped`)): void {
    this.closed = true
    this.isPaused = true
    this.clock.clearTimeout(this.backoffTimer)
    this.backoffTimer = undefined
    for (const e of this.queue.splice(0)) e.outcome.reject(error)
  }

  /** resolves when no turn is running */
  async idle (): Promise<void> {
    if (this.current == null) return
    await new Promise<void>((resolve) => { this.idleWaiters.push(resolve) })
  }

  /** messages set aside after failing too often, oldest first */
  quarantined (): QuarantinedMessage[] {
    return [...this.quarantine]
  }

  private pump (): void {
    if (this.current != null || this.isPaused || this.closed || this.backoffTimer != null) return
    const entry = this.queue.shift()
    if (entry == null) return
    this.current = entry
    void this.runTurn(entry).finally(() => {
      this.current = undefined
      this.notifyIdle()
      this.pump()
    })
  }

  private notifyIdle (): void {
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }

  private async runTurn (entry: Entry): Promise<void> {
    entry.tries++
    const abort = new AbortController()
    let timedOut = false
    let timer: TimerHandle | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = this.clock.setTimeout(() => {
        timedOut = true
        const err = new TimeoutError(`agent ${this.agentId}: handler did not finish within ${this.handlerTimeoutMs} ms`)
        abort.abort(err)
        reject(err)
      }, this.handlerTimeoutMs)
    })
    const stopTimer = this.metrics.turnSeconds.startTimer({ kind: this.kind })
    try {
      const reply = await Promise.race([
        Promise.resolve().then(async () => await this.handler(entry.message, { id: entry.id, attempt: entry.tries, signal: abort.signal, ...(entry.traceparent != null ? { traceparent: entry.traceparent } : {}), ...(entry.origin != null ? { origin: entry.origin } : {}) })),
        timeout
      ])
      this.consecutiveFailures = 0
      this.metrics.turns.inc(1, { kind: this.kind, outcome: 'ok' })
      this.settle(entry, () => { entry.outcome.resolve(reply ?? null) })
    } catch (err) {
      if (!timedOut && isAnswer(err)) {
        this.consecutiveFailures = 0
        this.metrics.turns.inc(1, { kind: this.kind, outcome: 'rejected' })
        if (err instanceof NotOwnerError) {
          // this peer did not answer for the agent (turn-fence.ts): its id is not remembered, so a
          // retry with it is looked up in the replicated reply records again, or runs
          entry.outcome.reject(err)
          this.replies.delete(entry.id)
          return
        }
        this.settle(entry, () => { entry.outcome.reject(err) })
        return
      }
      this.fail(entry, err instanceof Error ? err : new Error(String(err)), timedOut ? 'timeout' : 'error')
    } finally {
      stopTimer()
      this.clock.clearTimeout(timer)
      if (!abort.signal.aborted) abort.abort(new NotStartedError('turn over'))
    }
  }

  private fail (entry: Entry, error: Error, reason: 'error' | 'timeout'): void {
    this.metrics.turns.inc(1, { kind: this.kind, outcome: reason })
    this.log('agent %s: message %s failed (try %d, %s): %s', this.agentId, entry.id, entry.tries, reason, error.message)
    this.safeDispatchEvent('message:failed', { detail: { agentId: this.agentId, messageId: entry.id, attempt: entry.tries, reason, error } })
    if (entry.tries >= this.maxTries) {
      const q: QuarantinedMessage = {
        agentId: this.agentId,
        messageId: entry.id,
        message: entry.message,
        tries: entry.tries,
        error: { name: error.name, message: error.message },
        at: this.clock.now()
      }
      this.quarantine.push(q)
      if (this.quarantine.length > this.quarantineMax) this.quarantine.shift()
      this.metrics.quarantined.inc(1, { kind: this.kind })
      this.log.error('agent %s: message %s quarantined after %d tries: %s', this.agentId, entry.id, entry.tries, error.message)
      this.safeDispatchEvent('message:quarantined', { detail: q })
      this.settle(entry, () => {
        entry.outcome.reject(new PoisonMessageError(`agent ${this.agentId}: message ${entry.id} failed ${entry.tries} times (${error.name}: ${error.message})`, { cause: error, details: { agentId: this.agentId, messageId: entry.id, tries: entry.tries } }))
      })
    } else if (!this.closed) {
      this.queue.unshift(entry)
    } else {
      entry.outcome.reject(error)
    }
    this.restartAfterBackoff()
  }

  /** the restart: no turn until an exponential backoff has passed */
  private restartAfterBackoff (): void {
    this.consecutiveFailures++
    if (this.closed) return
    const delayMs = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (this.consecutiveFailures - 1))
    const failures = this.consecutiveFailures
    this.backoffTimer = this.clock.setTimeout(() => {
      this.backoffTimer = undefined
      this.metrics.restarts.inc(1, { kind: this.kind })
      this.safeDispatchEvent('mailbox:restarted', { detail: { agentId: this.agentId, failures, delayMs } })
      this.pump()
    }, delayMs)
  }

  private settle (entry: Entry, how: () => void): void {
    how()
    this.replies.settled(entry.id)
  }
}
