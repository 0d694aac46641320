/**
 * Pending ReadIndex requests on the leader: each waits for a quorum of heartbeat acks carrying its
 * context, which proves the leader was still the leader when the read arrived (etcd ReadOnlySafe).
 */
import type { Message, NodeId } from './types.ts'

export interface ReadIndexStatus {
  req: Message
  index: number
  acks: Set<NodeId>
}

/** a map key for a request context (bytes kept as a latin1 string) */
export function contextKey (ctx: Uint8Array | undefined): string {
  if (ctx === undefined) return ''
  let s = ''
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i])
  return s
}

export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>()
  private queue: string[] = []
  /** bound on queued reads; beyond it new ones are dropped (the client retries) */
  readonly maxPending: number

  constructor (maxPending: number) {
    this.maxPending = maxPending
  }

  get size (): number {
    return this.queue.length
  }

  /** queues a read of `index` for request m (whose first entry's data is the context) */
  addRequest (index: number, m: Message): boolean {
    const key = contextKey(m.entries[0].data)
    if (this.pending.has(key)) return true
    if (this.queue.length >= this.maxPending) return false
    this.pending.set(key, { req: m, index, acks: new Set() })
    this.queue.push(key)
    return true
  }

  /** records a heartbeat ack for ctx; returns the acks so far, or undefined if unknown */
  recvAck (id: NodeId, ctx: Uint8Array | undefined): Set<NodeId> | undefined {
    const rs = this.pending.get(contextKey(ctx))
    if (rs === undefined) return undefined
    rs.acks.add(id)
    return rs.acks
  }

  /**
   * dequeues every request up to and including the one with ctx (acks for a later request also
   * confirm the earlier ones) and returns them in order
   */
  advance (ctx: Uint8Array | undefined): ReadIndexStatus[] {
    const key = contextKey(ctx)
    const at = this.queue.indexOf(key)
    if (at === -1) return []
    const keys = this.queue.splice(0, at + 1)
    const out: ReadIndexStatus[] = []
    for (const k of keys) {
      const rs = this.pending.get(k)
      if (rs === undefined) throw new Error('cannot find corresponding read state from pending map')
      this.pending.delete(k)
      out.push(rs)
    }
    return out
  }

  lastPendingRequestCtx (): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined
    return this.pending.get(this.queue[this.queue.length - 1])?.req.entries[0].data
  }

  reset (): void {
    this.pending.clear()
    this.queue = []
  }
}
