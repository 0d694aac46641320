/**
 * Checkers for what clients saw during a fault run, besides KV linearizability
 * (test/checker/linearizability.ts):
 * - counters: every acknowledged increment is in the final value and none counted twice;
 * - single activation: for an agent, each placement epoch names one node, and no observer sees
 *   the epoch go back;
 * - reliable messages: every message a peer accepted (`POST /agents/:id/send` answered 2xx) was
 *   delivered exactly once; one whose send had no definite answer at most once; nothing else.
 */

export interface CounterHistory {
  /** increments sent */
  attempted: number
  /** the values returned by acknowledged increments (each +1) */
  acked: number[]
  /** the counter's value read once every fault healed */
  final: number
}

export interface Verdict {
  ok: boolean
  problems: string[]
}

export function checkCounter (h: CounterHistory): Verdict {
  const problems: string[] = []
  const seen = new Map<number, number>()
  for (const v of h.acked) seen.set(v, (seen.get(v) ?? 0) + 1)
  const twice = [...seen].filter(([, n]) => n > 1).map(([v]) => v)
  if (twice.length > 0) problems.push(`${twice.length} values acknowledged to more than one increment (e.g. ${twice.slice(0, 5).join(', ')}): increments lost or state forked`)
  if (h.final < h.acked.length) problems.push(`final value ${h.final} < ${h.acked.length} acknowledged increments: acknowledged increments lost`)
  const top = h.acked.length > 0 ? Math.max(...h.acked) : 0
  if (h.final < top) problems.push(`final value ${h.final} < ${top}, a value already acknowledged: the counter went back`)
  if (h.final > h.attempted) problems.push(`final value ${h.final} > ${h.attempted} increments sent: some increment applied twice`)
  return { ok: problems.length === 0, problems }
}

export interface PlacementObservation {
  /** test time, ms */
  at: number
  /** the peer asked */
  observer: string
  /** the owner it named */
  node: string
  epoch: number
}

export function checkSingleActivation (obs: PlacementObservation[]): Verdict {
  const problems: string[] = []
  const ownerOf = new Map<number, string>()
  for (const o of obs) {
    const have = ownerOf.get(o.epoch)
    if (have === undefined) ownerOf.set(o.epoch, o.node)
    else if (have !== o.node) problems.push(`epoch ${o.epoch} has two owners: ${have.slice(-6)} and ${o.node.slice(-6)} (seen by ${o.observer.slice(-6)} at ${Math.round(o.at)} ms)`)
  }
  const lastEpoch = new Map<string, number>()
  for (const o of [...obs].sort((a, b) => a.at - b.at)) {
    const last = lastEpoch.get(o.observer) ?? -1
    if (o.epoch < last) problems.push(`${o.observer.slice(-6)} saw epoch ${o.epoch} after ${last} at ${Math.round(o.at)} ms`)
    lastEpoch.set(o.observer, Math.max(last, o.epoch))
  }
  return { ok: problems.length === 0, problems: problems.slice(0, 20) }
}

export interface ReliableHistory {
  /** keys of the messages whose send was accepted (2xx) */
  accepted: string[]
  /** keys of sends with no definite answer (timeouts, errors): delivered at most once */
  unknown: string[]
  /** what the receiving agent recorded: key -> times handled */
  delivered: Map<string, number>
}

export function checkReliableMessages (h: ReliableHistory): Verdict {
  const problems: string[] = []
  const sent = new Set([...h.accepted, ...h.unknown])
  const lost = h.accepted.filter(k => !h.delivered.has(k))
  if (lost.length > 0) problems.push(`${lost.length} accepted messages never delivered (e.g. ${lost.slice(0, 5).join(', ')})`)
  const twice = [...h.delivered].filter(([, n]) => n > 1)
  if (twice.length > 0) problems.push(`${twice.length} messages delivered more than once (e.g. ${twice.slice(0, 5).map(([k, n]) => `${k} x${n}`).join(', ')})`)
  const invented = [...h.delivered.keys()].filter(k => !sent.has(k))
  if (invented.length > 0) problems.push(`${invented.length} messages delivered that nobody sent (e.g. ${invented.slice(0, 5).join(', ')})`)
  return { ok: problems.length === 0, problems }
}
