/**
 * After a heal: does the formerly cut-off peer reach agents elsewhere, and does its reliable outbox
 * drain? Polls until the counter and the inbox both answer a request sent through that peer (within
 * `reachMs` of the call) and its outbox holds no pending entry (within `drainMs`), or a bound runs
 * out (then says which did not, with that peer's outbox over time and its messaging metrics).
 * The drain is bounded apart: the backlog built during the cut (every send a client made there was
 * accepted) goes one message per ack round trip, and right after a heal those are slow.
 */
import type { LabMesh } from './cluster.ts'

export interface HealedVerdict {
  ok: boolean
  /** ms from the call to the first moment all three held */
  tookMs: number
  /** ms from the call until the counter answered, the inbox answered, the outbox was empty (when they did) */
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

export async function healedPeerCheck (mesh: LabMesh, index: number, bounds: { reachMs: number, drainMs: number }, note: (line: string) => void = () => {}): Promise<HealedVerdict> {
  const t0 = performance.now()
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
    const left = Math.max(500, Math.min(3000, reachBy - performance.now()))
    const [c, i, m] = await Promise.all([
      firstCounterMs !== undefined ? undefined : mesh.call(index, 'POST', '/agents/ctr/messages', { message: { op: 'get' }, timeoutMs: left }, left + 1000).catch((err: Error) => ({ status: 0, json: err.message })),
      firstInboxMs !== undefined ? undefined : mesh.call(index, 'POST', '/agents/inbox/messages', { message: { op: 'count' }, timeoutMs: left }, left + 1000).catch((err: Error) => ({ status: 0, json: err.message })),
      mesh.call(index, 'GET', '/metrics', undefined, 3000).catch(() => undefined)
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
      if (at - lastSampleMs >= 1000) { timeline.push(`${(at / 1000).toFixed(1)}s:${String(pending)}`); lastSampleMs = at }
      if (pending === 0) drainedMs ??= at
      else drainedMs = undefined
    }
    const reached = firstCounterMs !== undefined && firstInboxMs !== undefined
    if (firstCounterMs !== undefined && firstInboxMs !== undefined && drainedMs !== undefined) {
      const tookMs = Math.round(Math.max(firstCounterMs, firstInboxMs, drainedMs))
      note(`healed peer ${mesh.peers[index].name}: counter after ${Math.round(firstCounterMs)} ms, inbox after ${Math.round(firstInboxMs)} ms, outbox empty after ${Math.round(drainedMs)} ms (pending ${timeline.join(' ')})`)
      return { ok: true, tookMs, counterMs: Math.round(firstCounterMs), inboxMs: Math.round(firstInboxMs), drainedMs: Math.round(drainedMs), problems: [] }
    }
    if (performance.now() > deadline || (!reached && performance.now() > reachBy)) {
      const problems: string[] = []
      if (firstCounterMs === undefined) problems.push(`the counter did not answer through ${mesh.peers[index].name} within ${bounds.reachMs} ms of the heal (last: ${state.counter})`)
      if (firstInboxMs === undefined) problems.push(`the inbox did not answer through ${mesh.peers[index].name} within ${bounds.reachMs} ms of the heal (last: ${state.inbox})`)
      if (drainedMs === undefined && performance.now() > deadline) problems.push(`${mesh.peers[index].name}'s outbox did not drain within ${bounds.drainMs} ms of the heal (pending ${timeline.join(' ')})`)
      const metrics = m?.status === 200 && typeof m.json === 'string'
        ? m.json.split('\n').filter(l => /^agentmesh_(messaging|network)_/.test(l) && !l.includes('_bucket')).join('\n  ')
        : ''
      note(`healed peer ${mesh.peers[index].name} stuck: ${problems.join('; ')}\n  ${metrics}`)
      return { ok: false, tookMs: Math.round(performance.now() - t0), problems }
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}
