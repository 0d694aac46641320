/**
 * DocRetirer: the DocReplicator's part in retiring documents (marks in retirement.ts). For the
 * member that replaced a doc it writes the mark, waits for the other holders to take it and then
 * drops the doc; for every other holder it watches each held doc and drops it once a mark arrives.
 */
import * as Y from 'yjs'
import { InvalidArgumentError, describeError } from '../../errors.ts'
import { type AbortOptions, throwIfAborted } from '../../util/abort.ts'
import type { Clock } from '../../util/clock.ts'
import type { Logger } from '../../util/logger.ts'
import { RETIRE_POLL_MS, RETIRE_WAIT_MS } from './constants.ts'
import type { ReplicatedDoc } from './replicated-doc.ts'
import { markRetired, watchRetirement } from './retirement.ts'
import type { PeerId } from './types.ts'
import { covers } from './vectors.ts'

export interface DocRetirerHost {
  selfId: PeerId
  clock: Clock
  log: Logger
  /** whether `rdoc` is still the doc held under its id */
  isHeld: (rdoc: ReplicatedDoc) => boolean
  /** drops a held doc with its stored log */
  releaseAndPurge: (rdoc: ReplicatedDoc) => Promise<void>
}

export class DocRetirer {
  private readonly host: DocRetirerHost
  /** per held doc: stops watching it for a retirement mark */
  private readonly watches = new Map<string, () => void>()
  /** docs this peer is retiring itself (it drops them once their holders took the mark) */
  private readonly retiring = new Set<ReplicatedDoc>()

  constructor (host: DocRetirerHost) {
    this.host = host
  }

  /** drops `rdoc` here once it carries a retirement mark (now, or when one arrives) */
  watch (rdoc: ReplicatedDoc): void {
    this.unwatch(rdoc.id)
    this.watches.set(rdoc.id, watchRetirement(rdoc.doc, (successor) => { this.retiredSeen(rdoc, successor) }))
  }

  unwatch (docId: string): void {
    this.watches.get(docId)?.()
    this.watches.delete(docId)
  }

  /** stops watching every doc */
  stop (): void {
    for (const unwatch of this.watches.values()) unwatch()
    this.watches.clear()
  }

  /**
   * marks `rdoc` with the successor's id (a valid doc id, checked by the caller), waits up to RETIRE_WAIT_MS for its other holders to
   * take the mark, then drops it here with its stored log
   */
  async retire (rdoc: ReplicatedDoc, successor: string, options: AbortOptions & { epoch?: number } = {}): Promise<void> {
    if (successor === rdoc.id) throw new InvalidArgumentError(`document ${rdoc.id} cannot succeed itself`)
    const { clock, log, selfId } = this.host
    this.retiring.add(rdoc)
    try {
      markRetired(rdoc.doc, successor, options.epoch)
      // recruits no one for it any more (a recruit would take the mark and drop it, again and again)
      rdoc.replicas = 0
      const target = Y.decodeStateVector(Y.encodeStateVector(rdoc.doc))
      const deadline = clock.monotonic() + RETIRE_WAIT_MS
      const lagging = (): PeerId[] => [...rdoc.holders].filter(([peer, h]) => peer !== selfId && !covers(h.acked, target)).map(([peer]) => peer)
      while (!rdoc.isClosed && lagging().length > 0 && clock.monotonic() < deadline) {
        throwIfAborted(options.signal)
        await new Promise<void>(resolve => { clock.setTimeout(resolve, RETIRE_POLL_MS) })
      }
      const left = rdoc.isClosed ? [] : lagging()
      if (left.length > 0) log('document %s: retired without %s taking the mark', rdoc.id, left.join(', '))
      log('document %s: retired, replaced by %s', rdoc.id, successor)
      if (!rdoc.isClosed) await this.host.releaseAndPurge(rdoc)
    } finally {
      this.retiring.delete(rdoc)
    }
  }

  /**
   * a doc held here carries a retirement mark: it is dropped, whether held as a replica or as a
   * member (a former owner's copy); the peer retiring it drops it itself once holders took the mark
   */
  private retiredSeen (rdoc: ReplicatedDoc, successor: string): void {
    const current = (): boolean => !this.retiring.has(rdoc) && !rdoc.isClosed && this.host.isHeld(rdoc)
    if (!current()) return
    // not inside the transaction that brought the mark: released once it is over
    queueMicrotask(() => {
      if (!current()) return
      this.host.log('document %s: retired by its member, replaced by %s; dropping it', rdoc.id, successor)
      this.host.releaseAndPurge(rdoc).catch(err => {
        this.host.log.error('document %s: release after retirement failed: %s', rdoc.id, describeError(err).message)
      })
    })
  }
}
