/**
 * One fault run in a namespace lab: a relay and N Node peers; clients on every peer (both sides of
 * any partition: the client namespace reaches every peer) doing KV put / get / cas and counter
 * increments; an observer recording the counter agent's placement (owner, epoch) as each peer
 * sees it; a nemesis doing network faults for `nemesisMs`. Then everything heals, the group must
 * settle, and the checkers judge the histories.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkOperations, kvModel } from '../checker/linearizability.ts'
import type { KvInput, KvOperation, KvOutput } from '../checker/linearizability.ts'
import { seededRng, type Rng } from '../../src/util/prng.ts'
import { LabMesh, type LabHttpAnswer } from './cluster.ts'
import { checkCounter, checkReliableMessages, checkSingleActivation, type PlacementObservation, type Verdict } from './checkers.ts'
import { metricSum } from './healed.ts'

export interface NemesisContext {
  mesh: LabMesh
  rng: Rng
  /** records a fault (with its time) in the run's log */
  note: (what: string) => void
  /** resolves after `ms`, early when the run is over */
  sleep: (ms: number) => Promise<void>
  /** true once the nemesis time is up */
  done: () => boolean
  /** the durable sends accepted so far (202), each with the peer that accepted it and when (ms into the run) */
  acceptedSends: () => ReadonlyArray<{ key: string, peer: number, at: number }>
}

export interface ScenarioOptions {
  tag: string
  seed: number
  nodes: number
  /** voters the group should have before faults start */
  voters: number
  nemesisMs: number
  nemesis: (ctx: NemesisContext) => Promise<void>
  kvClients?: number
  counterClients?: number
  /** clients sending durable one-way messages (POST /agents/:id/send) to an inbox agent (default 1) */
  reliableClients?: number
  keys?: number
  /**
   * a coordinator job run through the faults (primes in [from, to) in chunks): agents messaging
   * agents; every task result must be counted exactly once (the prime count is exact)
   */
  job?: { from: number, to: number, chunk: number }
  /** the peer the counter agent is deployed on (pinned there); by default wherever placement puts it */
  pinCounter?: (mesh: LabMesh) => Promise<number | undefined>
  log?: (line: string) => void
}

export interface ScenarioResult {
  nemesisMs: number
  faults: string[]
  kv: {
    ops: number
    okWrites: number
    okReads: number
    unknown: number
    fastFailures: number
    /** why writes' outcomes are unknown: status and error name (or 'no answer') -> count */
    unknownWhy: Record<string, number>
    /** reads of every key through every peer once healed and settled, and how many were answered */
    finalReads: { asked: number, answered: number }
    check: ReturnType<typeof checkOperations<string | undefined, KvInput, KvOutput>>
  }
  counter: { attempted: number, acked: number, final: number, verdict: Verdict }
  activation: { observations: number, epochs: number, verdict: Verdict }
  reliable: { sent: number, accepted: number, unknown: number, delivered: number, verdict: Verdict }
  job?: { total: number, done: number, result: number | undefined, expected: number, verdict: Verdict }
  /** how long minority-side writes took to fail with NoQuorumError, ms */
  noQuorumLatenciesMs: number[]
}

const COUNTER = 'ctr'
const INBOX = 'inbox'
/** how long, after the heal, every accepted message has to arrive */
const RELIABLE_SETTLE_MS = 90_000
/** a client's bound on one call: answers later than this count as unknown outcomes */
const KV_CALL_TIMEOUT_MS = 8000
const COORDINATOR = 'coord'
/** how long after the group settles every peer has to answer a read of every key */
const FINAL_READS_MS = 60_000
/** the KV linearizability search's budget: past it the verdict is 'unknown', and the run fails */
const KV_CHECK_MAX_STEPS = 2_000_000
const KV_CHECK_MAX_MS = 120_000
const PEER_LOG_DIR = process.env.FAULTS_PEER_LOG_DIR

/** primes in [from, to), by a sieve: what a job's result must be */
export function countPrimes (from: number, to: number): number {
  const sieve = new Uint8Array(to)
  let n = 0
  for (let i = 2; i < to; i++) {
    if (sieve[i] === 1) continue
    if (i >= from) n++
    for (let j = i * i; j < to; j += i) sieve[j] = 1
  }
  return n
}

export async function runScenario (o: ScenarioOptions): Promise<ScenarioResult> {
  const log = o.log ?? (() => {})
  const rng = seededRng(o.seed)
  const t0 = performance.now()
  const now = (): number => performance.now() - t0
  const mesh = await LabMesh.start(o.tag, o.nodes, { log: line => { log(`${Math.round(now())} ms: ${line}`) } })
  const faults: string[] = []
  const history: KvOperation[] = []
  const acked: number[] = []
  const observations: PlacementObservation[] = []
  const noQuorumLatenciesMs: number[] = []
  /** why writes have an unknown outcome: status and error name (or 'no answer') -> count */
  const unknownWhy = new Map<string, number>()
  let attempted = 0
  let fastFailures = 0
  const accepted: string[] = []
  const acceptedVia: Array<{ key: string, peer: number, at: number }> = []
  const unknownSends: string[] = []
  try {
    await mesh.waitForGroup(o.voters, 90_000)
    log(`${Math.round(now())} ms: group of ${o.voters} voters`)
    // generous bounds: on a loaded machine (load 35 seen) a deploy can take well over 10 s
    const pinTo = o.pinCounter === undefined ? undefined : await o.pinCounter(mesh)
    const counterSpec = pinTo === undefined ? { id: COUNTER, kind: 'counter' } : { id: COUNTER, kind: 'counter', node: mesh.peers[pinTo].ready!.peerId }
    if (pinTo !== undefined) log(`${Math.round(now())} ms: counter pinned to ${mesh.peers[pinTo].name}`)
    const deploy = await retry(async () => await mesh.call(0, 'POST', '/agents', counterSpec, 20_000), r => r.status === 201 || r.status === 409, 90_000)
    if (deploy.status !== 201 && deploy.status !== 409) throw new Error(`could not deploy the counter: ${JSON.stringify(deploy.json)}`)
    const inbox = await retry(async () => await mesh.call(0, 'POST', '/agents', { id: INBOX, kind: 'inbox' }, 20_000), r => r.status === 201 || r.status === 409, 90_000)
    if (inbox.status !== 201 && inbox.status !== 409) throw new Error(`could not deploy the inbox: ${JSON.stringify(inbox.json)}`)

    const keys = Array.from({ length: o.keys ?? 3 }, (_, i) => `k${i}`)
    let running = true
    let seq = 0
    const pick = (): number | undefined => {
      const r = mesh.running()
      return r.length === 0 ? undefined : r[rng.int(r.length)].index
    }
    const get = async (client: number, peer: number, key: string): Promise<{ value: string | undefined, revision: number } | undefined> => {
      const call = now()
      const r = await mesh.call(peer, 'GET', `/kv/${key}`, undefined, KV_CALL_TIMEOUT_MS).catch(() => undefined)
      if (r?.status !== 200 && r?.status !== 404) return undefined
      const value = r.status === 200 ? r.json.value as string : undefined
      history.push({ clientId: client, input: { op: 'get', key }, call, return: now(), output: { value } })
      return { value, revision: r.status === 200 ? r.json.revision as number : 0 }
    }
    /** a write's answer: definite (ok / refused before proposing) or unknown */
    const write = async (op: KvOperation, peer: number, method: string, path: string, body: unknown, onStatus: (r: LabHttpAnswer) => KvOutput | undefined): Promise<void> => {
      const r = await mesh.call(peer, method, path, body, KV_CALL_TIMEOUT_MS).catch(() => undefined)
      const out = r === undefined ? undefined : onStatus(r)
      if (out !== undefined) { op.return = now(); op.output = out }
      if (r?.status === 503 && r.json?.error?.name === 'NoQuorumError' && /minority side/.test(String(r.json.error.message))) {
        // refused by the partition gate before anything was proposed: it never took effect
        fastFailures++
        noQuorumLatenciesMs.push(now() - op.call)
        return
      }
      if (out === undefined) {
        const why = r === undefined ? 'no answer' : `${r.status} ${String(r.json?.error?.name ?? '')}`.trim()
        if (!unknownWhy.has(why)) log(`${Math.round(now())} ms: a write's outcome unknown (${why}): ${String(r?.json?.error?.message ?? '').slice(0, 200)}`)
        unknownWhy.set(why, (unknownWhy.get(why) ?? 0) + 1)
      }
      history.push(op)
    }
    const kvClient = async (id: number): Promise<void> => {
      while (running) {
        const peer = pick()
        if (peer === undefined) { await sleep(50); continue }
        const key = keys[rng.int(keys.length)]
        const dice = rng.next()
        if (dice < 0.4) {
          await get(id, peer, key)
        } else if (dice < 0.8) {
          const value = `c${id}-${++seq}`
          await write({ clientId: id, input: { op: 'put', key, value }, call: now() }, peer, 'PUT', `/kv/${key}`, { value }, r => r.status === 200 ? {} : undefined)
        } else {
          const read = await get(id, peer, key)
          if (read === undefined) { await sleep(50); continue }
          const value = `c${id}-${++seq}`
          await write({ clientId: id, input: { op: 'cas', key, expect: read.value, value }, call: now() }, peer, 'PUT', `/kv/${key}`, { value, expectRevision: read.revision },
            r => r.status === 200 ? { ok: true } : r.status === 409 ? { ok: false } : undefined)
        }
      }
    }
    const counterClient = async (): Promise<void> => {
      while (running) {
        const peer = pick()
        if (peer === undefined) { await sleep(50); continue }
        attempted++
        const r = await mesh.call(peer, 'POST', `/agents/${COUNTER}/messages`, { message: { op: 'inc' }, timeoutMs: 5000 }, KV_CALL_TIMEOUT_MS).catch(() => undefined)
        if (r?.status === 200 && typeof r.json?.reply?.value === 'number') acked.push(r.json.reply.value)
        else await sleep(100)
      }
    }
    let sends = 0
    /** one-way durable messages, each with a key of its own (never re-sent: a retry would be a new message) */
    const reliableClient = async (id: number): Promise<void> => {
      while (running) {
        const peer = pick()
        if (peer === undefined) { await sleep(50); continue }
        const key = `s${id}-${++sends}`
        const r = await mesh.call(peer, 'POST', `/agents/${INBOX}/send`, { message: { op: 'record', key } }, KV_CALL_TIMEOUT_MS).catch(() => undefined)
        if (r?.status === 202) { accepted.push(key); acceptedVia.push({ key, peer, at: now() }) }
        else { unknownSends.push(key); await sleep(100) }
        await sleep(20)
      }
    }
    const observeRound = async (): Promise<void> => {
      await Promise.all(mesh.running().map(async p => {
        const r = await mesh.call(p.index, 'GET', `/agents/${COUNTER}`, undefined, 2000).catch(() => undefined)
        if (r?.status === 200 && typeof r.json.node === 'string' && typeof r.json.epoch === 'number') {
          observations.push({ at: now(), observer: p.ready!.peerId, node: r.json.node, epoch: r.json.epoch })
        }
      }))
    }
    const observer = async (): Promise<void> => {
      while (running) {
        await observeRound()
        await sleep(300)
      }
    }
    // the counter's first placement is seen before any fault: a nemesis that cuts its owner at once
    // left the first rounds timing out (each read gives up after 2 s), and the run showed one epoch
    // when the agent had moved (healed-peer)
    const seenBy = performance.now() + 20_000
    while (observations.length === 0 && performance.now() < seenBy) await observeRound()
    if (o.job !== undefined) {
      const job = o.job
      const d = await retry(async () => await mesh.call(0, 'POST', '/agents', { id: COORDINATOR, kind: 'coordinator', config: { workers: 3 } }, 20_000), r => r.status === 201 || r.status === 409, 90_000)
      if (d.status !== 201 && d.status !== 409) throw new Error(`could not deploy the coordinator: ${JSON.stringify(d.json)}`)
      // a start whose answer was lost and is sent again finds the job running (409): started either way
      const s = await retry(async () => await mesh.call(0, 'POST', `/agents/${COORDINATOR}/messages`, { message: { op: 'start', job: { type: 'primes', ...job } }, timeoutMs: 15_000 }, 20_000), r => r.status === 200 || r.status === 409, 90_000)
      if (s.status !== 200 && s.status !== 409) throw new Error(`could not start the job: ${JSON.stringify(s.json)}`)
      log(`${Math.round(now())} ms: job started`)
    }
    const nemesisStart = now()
    const deadline = performance.now() + o.nemesisMs
    const ctx: NemesisContext = {
      mesh,
      rng,
      note: (what) => { faults.push(`${Math.round(now())} ms: ${what}`); log(`${Math.round(now())} ms: ${what}`) },
      sleep: async (ms) => { await sleep(Math.max(0, Math.min(ms, deadline - performance.now()))) },
      done: () => performance.now() >= deadline,
      acceptedSends: () => [...acceptedVia]
    }
    const workers = [
      ...Array.from({ length: o.kvClients ?? 3 }, async (_, i) => { await kvClient(i) }),
      ...Array.from({ length: o.counterClients ?? 1 }, async () => { await counterClient() }),
      ...Array.from({ length: o.reliableClients ?? 1 }, async (_, i) => { await reliableClient(i) }),
      observer()
    ]
    try {
      await o.nemesis(ctx)
      if (!ctx.done()) await ctx.sleep(deadline - performance.now())
    } finally {
      await mesh.lab.heal()
      for (const p of mesh.peers) { mesh.resume(p.index); if (p.proc === undefined) await mesh.startPeer(p.index) }
      ctx.note('healed')
    }
    const nemesisMs = now() - nemesisStart
    // clients keep going through the heal for a moment: the minority's writes must work again
    await sleep(3000)
    running = false
    await Promise.all(workers)
    await mesh.waitForGroup(0, 60_000)
    log(`${Math.round(now())} ms: clients stopped, the group settled`)

    // final reads, from every peer (the checker sees them like any other read): one deadline for all
    const finalReadsBy = performance.now() + FINAL_READS_MS
    const finalReads = { asked: 0, answered: 0 }
    for (const p of mesh.peers) {
      for (const key of keys) {
        finalReads.asked++
        const r = await retry(async () => await get(1000 + p.index, p.index, key), r => r !== undefined, Math.max(0, finalReadsBy - performance.now()))
        if (r !== undefined) finalReads.answered++
      }
    }
    log(`${Math.round(now())} ms: ${finalReads.answered} of ${finalReads.asked} final reads answered`)
    // the checks' own reads go through each peer in turn: one peer that cannot reach an agent's
    // owner (two clocks left more than the HLC bound apart, docs/faults.md) is an availability
    // note, logged, not the verdict on the agent's state
    let turn = 0
    const viaAny = async (method: string, path: string, body: unknown, timeoutMs: number): Promise<{ status: number, json: any } | undefined> => {
      const p = mesh.peers[turn++ % mesh.peers.length]
      const r = await mesh.call(p.index, method, path, body, timeoutMs).catch(() => undefined)
      if (r?.status !== 200) log(`${Math.round(now())} ms: ${method} ${path} through ${p.name}: ${r === undefined ? 'no answer' : `${r.status} ${JSON.stringify(r.json).slice(0, 200)}`}`)
      return r
    }
    const finalAnswer = await retry(async () => await viaAny('POST', `/agents/${COUNTER}/messages`, { message: { op: 'get' }, timeoutMs: 5000 }, 8000), r => r?.status === 200, 60_000)
    const final = finalAnswer?.status === 200 ? finalAnswer.json.reply.value as number : -1
    log(`${Math.round(now())} ms: the counter reads ${final}`)
    if (final === -1) log(`${Math.round(now())} ms: no final counter value: ${JSON.stringify(finalAnswer)}; placement ${JSON.stringify((await mesh.call(0, 'GET', `/agents/${COUNTER}`).catch(() => undefined))?.json)}`)
    // every accepted message must arrive (outboxes retry through restarts and moves): wait for it
    const delivered = new Map<string, number>()
    const settleBy = performance.now() + RELIABLE_SETTLE_MS
    for (;;) {
      const st = await viaAny('GET', `/agents/${INBOX}/state`, undefined, 5000)
      if (st?.status === 200 && st.json !== null && typeof st.json === 'object') {
        delivered.clear()
        for (const [k, v] of Object.entries(st.json as Record<string, unknown>)) {
          if (k.startsWith('m/') && typeof v === 'number') delivered.set(k.slice(2), v)
        }
        if (accepted.every(k => delivered.has(k))) break
      }
      if (performance.now() > settleBy) break
      await sleep(500)
    }
    log(`${Math.round(now())} ms: ${delivered.size} messages delivered of ${accepted.length} accepted; inbox ${JSON.stringify((await mesh.call(0, 'GET', `/agents/${INBOX}`).catch(() => undefined))?.json)}`)
    // where each lost message was accepted, and when: to find it in the peer logs
    const lost = acceptedVia.filter(a => !delivered.has(a.key))
    if (lost.length > 0) {
      log(`${Math.round(now())} ms: never delivered: ${lost.slice(0, 20).map(a => `${a.key} (accepted by ${mesh.peers[a.peer].name} at ${Math.round(a.at)} ms)`).join(', ')}`)
      // still pending in an outbox, given up there (failed), or acknowledged (delivered) and then lost?
      for (const p of mesh.running()) {
        const m = await mesh.call(p.index, 'GET', '/metrics', undefined, 5000).catch(() => undefined)
        const text = m?.status === 200 && typeof m.json === 'string' ? m.json : undefined
        const entries = (state: string): string => String(text === undefined ? undefined : metricSum(text, 'agentmesh_messaging_outbox_entries', `state="${state}"`))
        log(`${Math.round(now())} ms: ${p.name} outbox: ${text === undefined ? `no metrics (${String(m?.status)})` : `pending ${entries('pending')}, delivered ${entries('delivered')}, failed ${entries('failed')}`}`)
      }
    }
    let job: ScenarioResult['job']
    if (o.job !== undefined) {
      const expected = countPrimes(o.job.from, o.job.to)
      const st = await retry(async () => await viaAny('POST', `/agents/${COORDINATOR}/messages`, { message: { op: 'status' }, timeoutMs: 5000 }, 8000),
        r => r?.status === 200 && r.json.reply.done === r.json.reply.total, 120_000)
      const reply = st?.status === 200 ? st.json.reply : { done: -1, total: -1 }
      const problems: string[] = []
      if (reply.done !== reply.total) problems.push(`the job did not finish: ${reply.done} of ${reply.total} tasks`)
      else if (reply.result !== expected) problems.push(`the job counted ${String(reply.result)} primes, not ${expected}: a task result lost or counted twice`)
      if (Array.isArray(reply.failed) && reply.failed.length > 0) problems.push(`${reply.failed.length} tasks given up`)
      job = { total: reply.total, done: reply.done, result: reply.result, expected, verdict: { ok: problems.length === 0, problems } }
    }
    // with FAULTS_PEER_LOG_DIR the KV history is kept beside the peer logs, to check again offline
    if (PEER_LOG_DIR !== undefined) writeFileSync(join(PEER_LOG_DIR, `${mesh.mesh}-kv-history.json`), JSON.stringify(history))
    const checkStarted = performance.now()
    const check = checkOperations(kvModel, history, { maxSteps: KV_CHECK_MAX_STEPS, maxMs: KV_CHECK_MAX_MS })
    log(`${Math.round(now())} ms: ${history.length} KV operations checked in ${Math.round(performance.now() - checkStarted)} ms: ${check.outcome}`)
    return {
      nemesisMs,
      faults,
      kv: {
        ops: history.length,
        okWrites: history.filter(h => h.input.op !== 'get' && h.return !== undefined).length,
        okReads: history.filter(h => h.input.op === 'get' && h.return !== undefined).length,
        unknown: history.filter(h => h.return === undefined).length,
        fastFailures,
        unknownWhy: Object.fromEntries(unknownWhy),
        finalReads,
        check
      },
      counter: { attempted, acked: acked.length, final, verdict: checkCounter({ attempted, acked, final }) },
      activation: { observations: observations.length, epochs: new Set(observations.map(x => x.epoch)).size, verdict: checkSingleActivation(observations) },
      reliable: {
        sent: accepted.length + unknownSends.length,
        accepted: accepted.length,
        unknown: unknownSends.length,
        delivered: delivered.size,
        verdict: checkReliableMessages({ accepted, unknown: unknownSends, delivered })
      },
      ...(job !== undefined ? { job } : {}),
      noQuorumLatenciesMs
    }
  } finally {
    await mesh.stop()
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

async function retry<T> (fn: () => Promise<T>, good: (t: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const r = await fn()
    if (good(r) || performance.now() > deadline) return r
    await sleep(200)
  }
}

/** a one-line summary for logs and reports */
export function summarize (name: string, r: ScenarioResult): string {
  const lat = [...r.noQuorumLatenciesMs].sort((a, b) => a - b)
  const p50 = lat.length > 0 ? Math.round(lat[Math.floor(lat.length / 2)]) : 0
  return `${name}: nemesis ${Math.round(r.nemesisMs / 1000)} s, ${r.faults.length} faults; kv ${r.kv.ops} ops (${r.kv.okWrites} writes ok, ${r.kv.okReads} reads, ${r.kv.unknown} unknown${r.kv.unknown > 0 ? ` (${Object.entries(r.kv.unknownWhy).map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}, ${r.kv.fastFailures} refused fast, p50 ${p50} ms; final reads ${r.kv.finalReads.answered}/${r.kv.finalReads.asked}) -> ${r.kv.check.outcome}; ` +
    `counter ${r.counter.attempted} sent, ${r.counter.acked} acked, final ${r.counter.final} -> ${r.counter.verdict.ok ? 'ok' : r.counter.verdict.problems.join('; ')}; ` +
    `activation ${r.activation.observations} observations over ${r.activation.epochs} epochs -> ${r.activation.verdict.ok ? 'ok' : r.activation.verdict.problems.join('; ')}; ` +
    `messages ${r.reliable.sent} sent, ${r.reliable.accepted} accepted, ${r.reliable.unknown} unanswered, ${r.reliable.delivered} delivered -> ${r.reliable.verdict.ok ? 'ok' : r.reliable.verdict.problems.join('; ')}` +
    (r.job !== undefined ? `; job ${r.job.done}/${r.job.total} tasks, ${String(r.job.result)} primes (expected ${r.job.expected}) -> ${r.job.verdict.ok ? 'ok' : r.job.verdict.problems.join('; ')}` : '')
}
