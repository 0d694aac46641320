/**
 * After a heal: does the formerly cut-off peer reach agents elsewhere, and does what it accepted
 * while cut off go out? Polls until the counter and the inbox both answer a request sent through
 * that peer (within `reachMs` of the call) and its backlog is delivered (within `drainMs`), or a
 * bound runs out (then says which did not, with that peer's outbox over time and its messaging
 * metrics).
 *
 * The backlog is judged by the messages themselves when the caller names them (`backlog`: the
 * keys of the durable sends that peer accepted before the heal): delivered when every one is in
 * the inbox agent's state. Not by an empty outbox: the scenario's clients go on sending through
 * every peer during this check, and the inbox handles one message at a time, each acknowledged
 * only once its turn's state is held by a replica (the write concern), so on a loaded machine the
 * three peers' sends together keep it near saturation. A channel is FIFO, so the cut's backlog
 * goes first, but the outbox hovers at 10-35 pending with the new sends (load 21-33: 35 -> 12 over
 * 60 s in a failing run whose every message was delivered; with this check, 13 sends from before
 * the heal were in 21.6 s after it while the outbox still held 17), so "empty" measured the
 * clients' send rate against the inbox's turn rate, not the heal. Without a backlog list it falls
 * back to an empty outbox.
 */
import type { LabMesh } from './cluster.ts'

export interface HealedVerdict {
  ok: boolean
  /** ms from the call to the first moment all three held */
  tookMs: number
  /** ms from the call until the counter answered, the inbox answered, the backlog was delivered (or the outbox empty) */
  counterMs?: number
  inboxMs?: number
  drainedMs?: number
  problems: string[]
}

/** the sum of a metric's samples (optionally those whose labels include `label`) in Prometheus text */
export function metricSum (text: string, name: string, label?: string): number | undefined {
  let sum: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    if (label !== undefined && !rest.includes(label)) continue
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1))
    if (Number.isFinite(value)) sum = (sum ?? 0) + value
  }
  return sum
}

export interface HealedBounds {
  reachMs: number
  drainMs: number
  /** keys of the durable sends (to the inbox) the peer accepted before the heal; see the header */
  backlog?: readonly string[]
}

/** the keys the inbox agent has recorded (`m/<key>` in its state), read through `via`; undefined when it did not answer */
async function inboxKeys (mesh: LabMesh, via: number): Promise<Set<string> | undefined> {
  const st = await mesh.call(via, 'GET', '/agents/inbox/state', undefined, 3000).catch(() => undefined)
  if (st?.status !== 200 || st.json === null || typeof st.json !== 'object') return undefined
  return new Set(Object.keys(st.json as Record<string, unknown>).filter(k => k.startsWith('m/')).map(k => k.slice(2)))
}

export async function healedPeerCheck (mesh: LabMesh, index: number, bounds: HealedBounds, note: (line: string) => void = () => {}): Promise<HealedVerdict> {
  const t0 = performance.now()
  const backlog = bounds.backlog
  /** the inbox's state is read through a peer that was not cut off (any would do once healed) */
  const reader = mesh.peers.find(p => p.index !== index)?.index ?? index
  let undelivered = backlog?.length ?? 0
  const deadline = t0 + Math.max(bounds.reachMs, bounds.drainMs)
  const reachBy = t0 + bounds.reachMs
  const state = { counter: '', inbox: '', outbox: '' }
  let firstCounterMs: number | undefined
  let firstInboxMs: number | undefined
  let drainedMs: number | undefined
  /** the outbox's pending count about once a second: how fast the backlog built during the cut drains */
  const timeline: string[] = []
  let lastSampleMs = -1000
  for (;;) {
    const left = Math.round(Math.max(500, Math.min(3000, reachBy - performance.now())))
    const [c, i, m, keys] = await Promise.all([
      firstCounterMs !== undefined ? undefined : mesh.call(index, 'POST', '/agents/ctr/messages', { message: { op: 'get' }, timeoutMs: left }, left + 1000).catch((err: Error) => ({ status: 0, json: err.message })),
      firstInboxMs !== undefined ? undefined : mesh.call(index, 'POST', '/agents/inbox/messages', { message: { op: 'count' }, timeoutMs: left }, left + 1000).catch((err: Error) => ({ status: 0, json: err.message })),
      mesh.call(index, 'GET', '/metrics', undefined, 3000).catch(() => undefined),
      backlog === undefined || drainedMs !== undefined ? undefined : inboxKeys(mesh, reader)
    ])
    const at = performance.now() - t0
    if (c !== undefined) {
      state.counter = `${c.status} ${JSON.stringify(c.json).slice(0, 200)}`
      if (c.status === 200) firstCounterMs = at
    }
    if (i !== undefined) {
      state.inbox = `${i.status} ${JSON.stringify(i.json).slice(0, 200)}`
      if (i.status === 200) firstInboxMs = at
    }
    if (m?.status === 200 && typeof m.json === 'string') {
      const pending = metricSum(m.json, 'agentmesh_messaging_outbox_entries', 'state="pending"')
      state.outbox = `pending ${String(pending)}`
      if (at - lastSampleMs >= 1000) { timeline.push(`${(at / 1000).toFixed(1)}s:${String(pending)}${backlog === undefined ? '' : `/${undelivered}`}`); lastSampleMs = at }
      if (backlog === undefined) {
        if (pending === 0) drainedMs ??= at
        else drainedMs = undefined
      }
    }
    if (backlog !== undefined && keys !== undefined) {
      undelivered = backlog.filter(k => !keys.has(k)).length
      // delivered messages stay delivered: the first time all are in is the time
      if (undelivered === 0) drainedMs ??= at
    }
    const reached = firstCounterMs !== undefined && firstInboxMs !== undefined
    if (firstCounterMs !== undefined && firstInboxMs !== undefined && drainedMs !== undefined) {
      const tookMs = Math.round(Math.max(firstCounterMs, firstInboxMs, drainedMs))
      const drained = backlog === undefined ? 'outbox empty' : `its ${backlog.length} sends from before the heal delivered`
      note(`healed peer ${mesh.peers[index].name}: counter after ${Math.round(firstCounterMs)} ms, inbox after ${Math.round(firstInboxMs)} ms, ${drained} after ${Math.round(drainedMs)} ms (outbox pending${backlog === undefined ? '' : '/backlog undelivered'} ${timeline.join(' ')})`)
      return { ok: true, tookMs, counterMs: Math.round(firstCounterMs), inboxMs: Math.round(firstInboxMs), drainedMs: Math.round(drainedMs), problems: [] }
    }
    if (performance.now() > deadline || (!reached && performance.now() > reachBy)) {
      const problems: string[] = []
      if (firstCounterMs === undefined) problems.push(`the counter did not answer through ${mesh.peers[index].name} within ${bounds.reachMs} ms of the heal (last: ${state.counter})`)
      if (firstInboxMs === undefined) problems.push(`the inbox did not answer through ${mesh.peers[index].name} within ${bounds.reachMs} ms of the heal (last: ${state.inbox})`)
      if (drainedMs === undefined && performance.now() > deadline) {
        problems.push(backlog === undefined
          ? `${mesh.peers[index].name}'s outbox did not drain within ${bounds.drainMs} ms of the heal (pending ${timeline.join(' ')})`
          : `${undelivered} of the ${backlog.length} sends ${mesh.peers[index].name} accepted before the heal were not in the inbox within ${bounds.drainMs} ms of it (outbox pending/backlog undelivered ${timeline.join(' ')})`)
      }
      const metrics = m?.status === 200 && typeof m.json === 'string'
        ? m.json.split('\n').filter(l => /^agentmesh_(messaging|network)_/.test(l) && !l.includes('_bucket')).join('\n  ')
        : ''
      note(`healed peer ${mesh.peers[index].name} stuck: ${problems.join('; ')}\n  ${metrics}`)
      return { ok: false, tookMs: Math.round(performance.now() - t0), problems }
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}
