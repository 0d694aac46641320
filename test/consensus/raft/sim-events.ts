/** The simulator's event queue: a binary min-heap of timed events, ties broken by insertion order. */
import type { Message } from '../../../src/consensus/raft/index.ts'

export const EV_DELIVER = 0
export const EV_TICK = 1
export const EV_CHAOS = 2
/** the transport's report on a snapshot send (RawNode.reportSnapshot) */
export const EV_SNAP_STATUS = 3

export interface SimEvent<N> { time: number, seq: number, kind: number, node: N | undefined, msg: Message | undefined, ok: boolean }

/** a binary min-heap of events ordered by (time, seq) */
export class EventQueue<N> {
  private heap: Array<SimEvent<N>> = []
  private seq = 0
  get size (): number { return this.heap.length }

  push (time: number, kind: number, node: N | undefined, msg: Message | undefined, ok = true): void {
    const h = this.heap
    const ev: SimEvent<N> = { time, seq: this.seq++, kind, node, msg, ok }
    let i = h.length
    h.push(ev)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(h[p], ev)) break
      h[i] = h[p]
      i = p
    }
    h[i] = ev
  }

  pop (): SimEvent<N> | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop() as SimEvent<N>
    if (h.length > 0) {
      let i = 0
      const n = h.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && less(h[r], h[l]) ? r : l
        if (less(last, h[c])) break
        h[i] = h[c]
        i = c
      }
      h[i] = last
    }
    return top
  }
}

function less<N> (a: SimEvent<N>, b: SimEvent<N>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}
