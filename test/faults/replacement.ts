/**
 * What the re-placement scenario (replaced-owner.faults.ts) records and checks besides the usual
 * scenario checkers:
 *
 * - keyed increments: a client sends `{op:'record', key}` to an `inbox` agent (the "ledger"), a
 *   new key each time, never re-sent, through random peers. An answered one (200) is an
 *   acknowledged increment; it must be in the ledger's final state exactly once (`m/<key>` = 1) as
 *   read through every peer. One without a definite answer may be there at most once; nothing
 *   else may be there.
 * - placements: each peer's view of an agent's placement (owner, epoch) over time; every epoch has
 *   one owner (checkSingleActivation), and the placements that moved the agent off the cut-off
 *   owner are counted: a run with none checked nothing about a re-placement.
 */
import type { LabMesh } from './cluster.ts'
import { checkSingleActivation, type PlacementObservation, type Verdict } from './checkers.ts'

export interface KeyedHistory {
  /** keys whose increment was answered 200 */
  acked: string[]
  /** keys sent without a definite answer */
  unknown: string[]
  /** answers that said the key had been recorded more than once already (times > 1) */
  ackedTwice: string[]
}

/** the ledger's final state (`m/<key>` -> times) against what clients were told */
export function checkKeyedIncrements (h: KeyedHistory, state: Record<string, unknown>): Verdict {
  const problems: string[] = []
  const counts = new Map<string, number>()
  for (const [k, v] of Object.entries(state)) if (k.startsWith('m/') && typeof v === 'number') counts.set(k.slice(2), v)
  if (h.ackedTwice.length > 0) problems.push(`${h.ackedTwice.length} increments answered as applied more than once (e.g. ${h.ackedTwice.slice(0, 5).join(', ')})`)
  const missing = h.acked.filter(k => !counts.has(k))
  if (missing.length > 0) problems.push(`${missing.length} acknowledged increments missing (e.g. ${missing.slice(0, 5).join(', ')})`)
  const sent = new Set([...h.acked, ...h.unknown])
  const twice = [...counts].filter(([, n]) => n > 1)
  if (twice.length > 0) problems.push(`${twice.length} increments applied more than once (e.g. ${twice.slice(0, 5).map(([k, n]) => `${k} x${n}`).join(', ')})`)
  const invented = [...counts.keys()].filter(k => !sent.has(k))
  if (invented.length > 0) problems.push(`${invented.length} keys nobody sent (e.g. ${invented.slice(0, 5).join(', ')})`)
  return { ok: problems.length === 0, problems }
}

/** how many unanswered increments are in the state anyway (applied, their reply lost or withheld): a figure, not a fault */
export function unansweredApplied (h: KeyedHistory, state: Record<string, unknown>): number {
  return h.unknown.filter(k => state[`m/${k}`] !== undefined).length
}

/** the placements of an agent that took it off `owner` (distinct epochs naming another node), by epoch */
export function placementsOff (obs: PlacementObservation[], owner: string): Array<{ epoch: number, node: string, firstSeen: number }> {
  const byEpoch = new Map<number, { epoch: number, node: string, firstSeen: number }>()
  for (const o of obs) {
    if (o.node === owner) continue
    const have = byEpoch.get(o.epoch)
    if (have === undefined || o.at < have.firstSeen) byEpoch.set(o.epoch, { epoch: o.epoch, node: o.node, firstSeen: o.at })
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch)
}

export interface KeyedClient {
  history: KeyedHistory
  sent: () => number
  /** stops sending and waits for the calls in flight */
  stop: () => Promise<void>
}

/**
 * Sends keyed increments to `agent`, one call at a time, each through a peer picked at random
 * (`rnd`) from `peers()`, until stopped
 */
export function startKeyedClient (mesh: LabMesh, agent: string, prefix: string, peers: () => number[], rnd: () => number, callTimeoutMs: number): KeyedClient {
  const history: KeyedHistory = { acked: [], unknown: [], ackedTwice: [] }
  let running = true
  let n = 0
  const loop = (async () => {
    while (running) {
      const choice = peers()
      if (choice.length === 0) { await sleep(50); continue }
      const peer = choice[Math.floor(rnd() * choice.length)]
      const key = `${prefix}${++n}`
      const r = await mesh.call(peer, 'POST', `/agents/${agent}/messages`, { message: { op: 'record', key }, timeoutMs: callTimeoutMs - 1000 }, callTimeoutMs).catch(() => undefined)
      if (r?.status === 200 && r.json?.reply?.key === key) {
        history.acked.push(key)
        if (r.json.reply.times !== 1) history.ackedTwice.push(key)
      } else {
        history.unknown.push(key)
        await sleep(100)
      }
    }
  })()
  return { history, sent: () => n, stop: async () => { running = false; await loop } }
}

export interface PlacementWatch {
  observations: Map<string, PlacementObservation[]>
  stop: () => Promise<void>
}

/** asks every running peer for each agent's placement every `everyMs` (answers from a minority side fail fast and are skipped) */
export function watchPlacements (mesh: LabMesh, agents: string[], now: () => number, everyMs = 250): PlacementWatch {
  const observations = new Map<string, PlacementObservation[]>(agents.map(a => [a, []]))
  let running = true
  const loop = (async () => {
    while (running) {
      await Promise.all(mesh.running().flatMap(p => agents.map(async a => {
        const r = await mesh.call(p.index, 'GET', `/agents/${a}`, undefined, 2000).catch(() => undefined)
        if (r?.status === 200 && typeof r.json.node === 'string' && typeof r.json.epoch === 'number') {
          observations.get(a)!.push({ at: now(), observer: p.ready!.peerId, node: r.json.node, epoch: r.json.epoch })
        }
      })))
      await sleep(everyMs)
    }
  })()
  return { observations, stop: async () => { running = false; await loop } }
}

/** the activation verdict of every watched agent, problems prefixed by the agent */
export function checkWatchedActivations (w: PlacementWatch): Verdict {
  const problems: string[] = []
  for (const [agent, obs] of w.observations) problems.push(...checkSingleActivation(obs).problems.map(p => `${agent}: ${p}`))
  return { ok: problems.length === 0, problems }
}

/** the sum of `agentmesh_agent_placements_total{reason="recover"}` over every running peer's /metrics */
export async function recoverPlacements (mesh: LabMesh): Promise<number> {
  let sum = 0
  for (const p of mesh.running()) {
    const r = await mesh.call(p.index, 'GET', '/metrics', undefined, 5000).catch(() => undefined)
    if (r?.status !== 200 || typeof r.json !== 'string') continue
    for (const line of r.json.split('\n')) {
      if (!line.startsWith('agentmesh_agent_placements_total{') || !line.includes('reason="recover"')) continue
      const v = Number(line.slice(line.lastIndexOf(' ') + 1))
      if (Number.isFinite(v)) sum += v
    }
  }
  return sum
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
