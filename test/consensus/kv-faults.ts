/**
 * A Jepsen-style run against real processes: a relay and 4 Node peers started with the CLI, each
 * with `--data`; concurrent clients do put / get / cas / delete over HTTP on a few keys, spread
 * over every running peer, while a nemesis SIGKILLs and restarts peers (same `--data`) and
 * SIGSTOPs / SIGCONTs them, the leader included. Every call and return is recorded; writes whose
 * answer was lost count as never returned (they may or may not have happened). At the end every
 * peer runs again, the group must settle, every peer must read the same final values, and the whole
 * history must be linearizable (test/checker/linearizability.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkOperations, kvModel } from '../checker/linearizability.ts'
import type { KvInput, KvOperation, KvOutput } from '../checker/linearizability.ts'
import { startProcess } from '../helpers/processes.ts'
import type { PeerProcess } from '../helpers/processes.ts'
import { seededRng } from '../../src/util/prng.ts'
import type { Rng } from '../../src/util/prng.ts'

export interface FaultRunOptions {
  seed: number
  /** how long clients and the nemesis run (at least) */
  faultMs: number
  /** the nemesis goes on past faultMs until it has acted this often (a loaded machine restarts peers slowly); default 0 */
  minFaults?: number
  clients: number
  keys: number
  /** the linearizability search budget per key (the search is synchronous: bound it) */
  maxSteps?: number
  log?: (line: string) => void
}

export interface FaultRunResult {
  ops: number
  okWrites: number
  okReads: number
  unknown: number
  faults: string[]
  check: ReturnType<typeof checkOperations<string | undefined, KvInput, KvOutput>>
  finalValues: Array<Record<string, string | undefined>>
}

interface Peer {
  name: string
  args: string[]
  proc: PeerProcess | undefined
  paused: boolean
}

const HTTP_TIMEOUT_MS = 4000
// generous: on a loaded machine (the test suite, other work) five peers start and settle slowly;
// unloaded they take a few seconds
const START_TIMEOUT_MS = 60_000
const SETTLE_TIMEOUT_MS = 90_000

async function call (base: string, method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> {
  const res = await fetch(base + path, {
    method,
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {})
  })
  return { status: res.status, json: await res.json() }
}

export async function runKvFaults (o: FaultRunOptions): Promise<FaultRunResult> {
  const log = o.log ?? (() => {})
  const rng: Rng = seededRng(o.seed)
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-kv-faults-'))
  const mesh = `faults${o.seed}`
  const peers: Peer[] = []
  const history: KvOperation[] = []
  const faults: string[] = []
  const t0 = performance.now()
  const now = (): number => performance.now() - t0
  const live = (): Peer[] => peers.filter(p => p.proc !== undefined && !p.paused)
  const addrsOfLive = (): string[] => peers.flatMap(p => p.proc !== undefined ? p.proc.ready.multiaddrs : [])
  const start = async (p: Peer, bootstrap: string[]): Promise<void> => {
    p.proc = await startProcess([...p.args, ...(p.args[0] === 'node' ? ['--bootstrap', bootstrap.join(',')] : [])], { readyTimeoutMs: START_TIMEOUT_MS })
    // the relay is every peer's bootstrap address: like a real one it comes back on the same port
    // (on a fresh port nobody could find it again, and it knows no one to dial)
    if (p.args[0] === 'relay') p.args[p.args.indexOf('--port') + 1] = String(wsPort(p.proc.ready.multiaddrs))
  }
  try {
    const relay: Peer = { name: 'relay', args: ['relay', '--port', '0', '--http-port', '0', '--data', join(dir, 'relay'), '--mesh', mesh], proc: undefined, paused: false }
    await start(relay, [])
    peers.push(relay)
    const nodes: Peer[] = [1, 2, 3, 4].map(i => ({ name: `node${i}`, args: ['node', '--port', '0', '--http-port', '0', '--data', join(dir, `node${i}`), '--mesh', mesh], proc: undefined, paused: false }))
    await Promise.all(nodes.map(async n => { await start(n, relay.proc!.ready.multiaddrs) }))
    peers.push(...nodes)
    await waitForGroup(peers, 5, SETTLE_TIMEOUT_MS)
    log(`group of 5 voters formed after ${Math.round(now())} ms`)

    const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`)
    let seq = 0
    let running = true
    const client = async (id: number): Promise<void> => {
      while (running) {
        const targets = live()
        if (targets.length === 0) { await sleep(20); continue }
        const peer = targets[rng.int(targets.length)]
        const base = peer.proc!.ready.http
        const key = keys[rng.int(keys.length)]
        const dice = rng.next()
        if (dice < 0.4) {
          await recordGet(history, id, base, key, now)
        } else if (dice < 0.75) {
          const value = `c${id}-${++seq}`
          const op: KvOperation = { clientId: id, input: { op: 'put', key, value }, call: now() }
          try {
            const r = await call(base, 'PUT', `/kv/${key}`, { value })
            if (r.status === 200) { op.return = now(); op.output = {} }
          } catch {}
          history.push(op)
        } else if (dice < 0.93) {
          // cas by revision: values are unique, so "at revision r" is "holds the value read at r"
          const read = await recordGet(history, id, base, key, now)
          if (read === undefined) continue
          const value = `c${id}-${++seq}`
          const op: KvOperation = { clientId: id, input: { op: 'cas', key, expect: read.value, value }, call: now() }
          try {
            const r = await call(base, 'PUT', `/kv/${key}`, { value, expectRevision: read.revision })
            if (r.status === 200) { op.return = now(); op.output = { ok: true } } else if (r.status === 409) { op.return = now(); op.output = { ok: false } }
          } catch {}
          history.push(op)
        } else {
          const op: KvOperation = { clientId: id, input: { op: 'delete', key }, call: now() }
          try {
            const r = await call(base, 'DELETE', `/kv/${key}`)
            if (r.status === 200) { op.return = now(); op.output = {} }
          } catch {}
          history.push(op)
        }
      }
    }
    const nemesis = async (): Promise<void> => {
      const deadline = performance.now() + o.faultMs
      // bounded: at most 6x faultMs however slowly peers restart (on a loaded machine a restart can
      // take half a minute)
      const hardDeadline = performance.now() + 6 * o.faultMs
      while (performance.now() < deadline || (faults.length < (o.minFaults ?? 0) && performance.now() < hardDeadline)) {
        await sleep(1500 + rng.int(1500))
        const leaderName = await currentLeader(peers)
        const running = peers.filter(p => p.proc !== undefined && !p.paused)
        const victim = rng.next() < 0.5 && leaderName !== undefined
          ? peers.find(p => p.name === leaderName)!
          : running[rng.int(running.length)]
        if (victim === undefined || victim.proc === undefined) continue
        const isLeader = victim.name === leaderName ? ' (leader)' : ''
        if (rng.next() < 0.5) {
          faults.push(`SIGKILL ${victim.name}${isLeader}`)
          log(`${Math.round(now())} ms: SIGKILL ${victim.name}${isLeader}`)
          victim.proc.kill('SIGKILL')
          await victim.proc.stop()
          victim.proc = undefined
          await sleep(500 + rng.int(1500))
          await start(victim, addrsOfLive())
          log(`${Math.round(now())} ms: ${victim.name} restarted`)
        } else {
          const pauseMs = 1000 + rng.int(3000)
          faults.push(`SIGSTOP ${victim.name}${isLeader} for ${pauseMs} ms`)
          log(`${Math.round(now())} ms: SIGSTOP ${victim.name}${isLeader} for ${pauseMs} ms`)
          victim.paused = true
          victim.proc.kill('SIGSTOP')
          await sleep(pauseMs)
          victim.proc.kill('SIGCONT')
          victim.paused = false
        }
      }
    }
    await Promise.all([nemesis().finally(() => { running = false }), ...Array.from({ length: o.clients }, async (_, i) => { await client(i) })])

    // heal: everyone runs; the group settles; every peer reads the same values
    for (const p of peers) if (p.proc === undefined) await start(p, addrsOfLive())
    await waitForGroup(peers, 0, SETTLE_TIMEOUT_MS)
    // a write whose caller gave up may still be in the log and commit after the heal (its outcome
    // was never known, so it may take effect at any time): read again until every peer agrees
    let finalValues: Array<Record<string, string | undefined>> = []
    let agreeBy = 0
    for (let round = 0; ; round++) {
      finalValues = []
      for (const p of peers) {
        const values: Record<string, string | undefined> = {}
        for (const key of keys) {
          // a read that got no answer is told apart from an absent key (both were undefined, so a
          // peer that could not answer looked like one that lost a write)
          const last: { error?: string } = {}
          const read = await recordGet(history, 1000 + peers.indexOf(p), p.proc!.ready.http, key, now, 20_000, last)
          values[key] = read !== undefined ? read.value : `(no answer from ${p.name} within 20 s: ${last.error ?? 'none'})`
        }
        finalValues.push(values)
      }
      const first = JSON.stringify(finalValues[0])
      // counted from the end of the first round (on a loaded machine one round can take long)
      if (round === 0) agreeBy = performance.now() + 30_000
      if (finalValues.every(v => JSON.stringify(v) === first) || performance.now() > agreeBy) break
      log(`final reads round ${round} disagree; reading again`)
      await sleep(500)
    }
    const ops = history.length
    const check = checkOperations(kvModel, history, o.maxSteps != null ? { maxSteps: o.maxSteps } : {})
    return {
      ops,
      okWrites: history.filter(h => h.input.op !== 'get' && h.return !== undefined).length,
      okReads: history.filter(h => h.input.op === 'get' && h.return !== undefined).length,
      unknown: history.filter(h => h.return === undefined).length,
      faults,
      check,
      finalValues
    }
  } finally {
    await Promise.allSettled(peers.map(async p => { await p.proc?.stop() }))
    rmSync(dir, { recursive: true, force: true })
  }
}

/** a linearizable read, recorded; undefined when it failed (a failed read is left out) */
async function recordGet (history: KvOperation[], clientId: number, base: string, key: string, now: () => number, retryForMs = 0, last?: { error?: string }): Promise<{ value: string | undefined, revision: number } | undefined> {
  const deadline = performance.now() + retryForMs
  for (;;) {
    const call0 = now()
    try {
      const r = await call(base, 'GET', `/kv/${key}`)
      if (r.status === 200 || r.status === 404) {
        const value = r.status === 200 ? r.json.value as string : undefined
        history.push({ clientId, input: { op: 'get', key }, call: call0, return: now(), output: { value } })
        return { value, revision: r.status === 200 ? r.json.revision as number : 0 }
      }
      if (last !== undefined) last.error = `HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`
    } catch (err) {
      if (last !== undefined) last.error = `${(err as Error).name}: ${(err as Error).message}`
    }
    if (performance.now() >= deadline) return undefined
    await sleep(100)
  }
}

async function currentLeader (peers: Peer[]): Promise<string | undefined> {
  for (const p of peers) {
    if (p.proc === undefined || p.paused) continue
    try {
      const st = (await call(p.proc.ready.http, 'GET', '/consensus')).json
      if (st.role === 'leader') return p.name
    } catch {}
  }
  return undefined
}

/** every peer knows the same leader, is a member, has applied what is committed (and `voters` voters, if > 0) */
async function waitForGroup (peers: Peer[], voters: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  let last = ''
  for (;;) {
    try {
      const st = await Promise.all(peers.map(async p => (await call(p.proc!.ready.http, 'GET', '/consensus')).json))
      last = JSON.stringify(st.map(s => [s.role, s.voters.length, s.learners.length, s.leader?.slice(-4), s.commitIndex, s.appliedIndex]))
      const leaders = new Set(st.map(s => s.leader))
      if (leaders.size === 1 && !leaders.has(null) && st.every(s => s.role !== 'none') &&
        (voters === 0 || st.every(s => s.voters.length === voters && s.role !== 'learner'))) return
    } catch {}
    if (performance.now() > deadline) throw new Error(`the group did not settle within ${timeoutMs} ms: ${last}`)
    await sleep(100)
  }
}

/** the WebSocket listening port among a peer's addresses (`/ip4/…/tcp/PORT/ws/…`) */
function wsPort (multiaddrs: string[]): number {
  for (const a of multiaddrs) {
    const m = /\/tcp\/(\d+)\/ws(\/|$)/.exec(a)
    if (m !== null) return Number(m[1])
  }
  throw new Error(`no WebSocket address among ${multiaddrs.join(', ')}`)
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
