/**
 * npm run bench -- kv [--quick] [--layers] [--rounds=N]
 *
 * The replicated key-value store, side by side with etcd 3.4 in the same run, both with durable
 * (fsynced) storage and 3 members on 127.0.0.1:
 * - etcd: 3 `etcd` members with their own data dirs in a temp dir, driven with the `etcd3` npm
 *   client (gRPC; it spreads calls over the members).
 * - ours: 3 CLI peers (`agentmesh relay` + 2 `agentmesh node`, each with `--data`: the Raft log
 *   in a preallocated write-ahead log with fdatasync per Ready, the rest in LevelDB with synced
 *   writes), driven over their HTTP admin API (`PUT /kv/:key`, `GET /kv/:key`, keep-alive
 *   connections), spreading calls over the peers the same way.
 * Rows: sequential put latency (1 client), put throughput with 1, 16 and 64 clients in flight,
 * linearizable get throughput with 1 and 64 in flight. Values are ~100 B. Each side first runs
 * every row once unmeasured (the same calls), then every row measured. The table also gives the CPU
 * time a put costs in the sequential and 16-in-flight rows: the three members' together
 * (/proc/<pid>/stat, Linux) and this process's, the client's; and the members' CPU time over
 * 10 s with no calls (after the warm-up), per second.
 * A call that fails is counted and the run goes on (the bench used to die of one ECONNRESET); a
 * call reset on a reused keep-alive socket is sent once more, and both counts are in the table;
 * a peer that dies mid-run is reported with its exit status and the end of its stderr.
 *
 * --layers adds two columns between etcd and ours, driven the same way (bench/_kv-layer.ts): the
 * fixed stack alone (libp2p with TCP, Noise and yamux, node:http, an O_DSYNC log) carrying the
 * messages of our puts and reads with no Raft, and our ConsensusManager on that same stack with a
 * bare HTTP handler and a static membership. Against the CLI peers' column they tell what of a
 * put's cost is the stack, our consensus, and the rest of a peer.
 *
 * --rounds=N (default 1) measures every column N times, alternating their order from one round
 * to the next (etcd first, then ours first), and prints each round's table, then the median of
 * each figure over the rounds and, per round, each row of ours as a multiple of etcd's (1.00 or
 * more: at least etcd's figure). This machine's speed drifts by 10-15% over tens of minutes, for
 * both sides; a ratio taken within one round, and its spread over rounds, is what to read.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Etcd3 } from 'etcd3'
import { getJson, processCpuMs, startProcess, waitUntil } from '../test/helpers/processes.ts'
import type { PeerProcess } from '../test/helpers/processes.ts'
import { fmt, median, percentile, table } from './_stats.ts'

const quick = process.argv.includes('--quick')
const layers = process.argv.includes('--layers')
const roundsFlag = process.argv.find(a => a === '--rounds' || a.startsWith('--rounds='))
const roundsText = roundsFlag?.slice('--rounds='.length) ?? '1'
const rounds = Number(roundsText)
if (!/^\d+$/.test(roundsText) || rounds < 1 || rounds > 20) {
  console.error(`--rounds=N takes a whole number from 1 to 20 (got ${JSON.stringify(roundsFlag)})`)
  process.exit(2)
}
const SEQ_N = quick ? 300 : 2000
const PAR_N = quick ? 2000 : 10_000
const IDLE_MS = quick ? 3_000 : 10_000
const value = 'v'.repeat(100)

interface Client {
  name: string
  /** mean seconds per fsync'd write batch, per member, from the members' own metrics */
  fsync: () => Promise<number[]>
  put: (key: string, i: number) => Promise<void>
  get: (key: string, i: number) => Promise<void>
  /** calls sent again after a kept-alive socket was reset under them (see httpCall) */
  retried?: () => number
  /** the members' process ids, for their CPU time */
  pids: number[]
  stop: () => Promise<void>
}

/** this process's (the client's) CPU time, user + system, in ms */
function ownCpuMs (): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => { resolve(port) })
    })
  })
}

async function startEtcd (dir: string): Promise<Client | undefined> {
  if (spawnSync('which', ['etcd']).status !== 0) return undefined
  const names = ['e1', 'e2', 'e3']
  const peerPorts = await Promise.all(names.map(freePort))
  const clientPorts = await Promise.all(names.map(freePort))
  const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${peerPorts[i]}`).join(',')
  const procs: ChildProcess[] = names.map((n, i) => spawn('etcd', [
    '--name', n, '--data-dir', join(dir, n),
    '--listen-peer-urls', `http://127.0.0.1:${peerPorts[i]}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPorts[i]}`,
    '--listen-client-urls', `http://127.0.0.1:${clientPorts[i]}`, '--advertise-client-urls', `http://127.0.0.1:${clientPorts[i]}`,
    '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'bench'
  ], { stdio: 'ignore' }))
  const client = new Etcd3({ hosts: clientPorts.map(p => `http://127.0.0.1:${p}`) })
  const deadline = Date.now() + 30_000
  for (;;) {
    try { await client.put('warmup').value('1'); break } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  return {
    name: 'etcd 3.4 (etcd3 client)',
    fsync: async () => await Promise.all(clientPorts.map(async p => meanOf(await (await fetch(`http://127.0.0.1:${p}/metrics`)).text(), 'etcd_disk_wal_fsync_duration_seconds'))),
    put: async (key) => { await client.put(key).value(value) },
    get: async (key) => { await client.get(key).string() },
    pids: procs.map(p => p.pid ?? 0),
    stop: async () => {
      client.close()
      await terminate(procs)
    }
  }
}

/** an HTTP call that failed before any response: its error code and whether it went out on a reused keep-alive socket */
class CallError extends Error {
  constructor (message: string, readonly code: string | undefined, readonly reusedSocket: boolean) { super(message) }
}

function httpCallOnce (agent: Agent, base: string, method: string, path: string, body?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base)
    const req = request({ agent, method, host: url.hostname, port: url.port, path: url.pathname, headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('error', (err: Error & { code?: string }) => { reject(new CallError(`${method} ${base}${path}: response ${err.message}`, err.code, req.reusedSocket)) })
      res.on('end', () => {
        if ((res.statusCode ?? 500) >= 300 && !(method === 'GET' && res.statusCode === 404)) reject(new Error(`${method} ${base}${path}: ${res.statusCode} ${text}`))
        else resolve()
      })
    })
    req.on('error', (err: Error & { code?: string }) => { reject(new CallError(`${method} ${base}${path}: ${err.message}`, err.code, req.reusedSocket)) })
    if (body !== undefined) req.end(body)
    else req.end()
  })
}

/**
 * A request sent on a kept-alive socket the server closed at that moment (its idle timeout) fails
 * with ECONNRESET / EPIPE before the server read it: sent again once on a fresh socket, as Node's
 * documentation advises (every call here is idempotent: a put of the same value, or a get).
 */
async function httpCall (agent: Agent, base: string, method: string, path: string, body: string | undefined, retried: { n: number }): Promise<void> {
  try {
    await httpCallOnce(agent, base, method, path, body)
  } catch (err) {
    if (!(err instanceof CallError) || !err.reusedSocket || (err.code !== 'ECONNRESET' && err.code !== 'EPIPE')) throw err
    retried.n++
    await httpCallOnce(agent, base, method, path, body)
  }
}

async function startOurs (dir: string): Promise<Client> {
  const relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--data', join(dir, 'relay'), '--mesh', 'bench-kv'], { readyTimeoutMs: 120_000 })
  const boot = relay.ready.multiaddrs.join(',')
  const nodes = await Promise.all([1, 2].map(async i => await startProcess(['node', '--bootstrap', boot, '--port', '0', '--http-port', '0', '--data', join(dir, `node${i}`), '--mesh', 'bench-kv'], { readyTimeoutMs: 120_000 })))
  const peers: PeerProcess[] = [relay, ...nodes]
  await waitUntil(async () => {
    const st = await Promise.all(peers.map(async p => await getJson<{ voters: string[], role: string, appliedIndex: number, commitIndex: number }>(p, '/consensus')))
    return st.every(s => s.voters.length === 3 && s.role !== 'learner' && s.role !== 'none' && s.appliedIndex === s.commitIndex)
  }, 60_000, 'a group of 3 voters')
  const bases = peers.map(p => p.ready.http)
  const http = httpKv(bases)
  // a peer that dies mid-run is named with its exit status and last words, not left to show up
  // as connection errors
  const tails = peers.map(() => ({ text: '' }))
  let stopping = false
  peers.forEach((p, k) => {
    p.proc.stderr?.on('data', (d: Buffer) => { tails[k].text = (tails[k].text + d.toString()).slice(-3000) })
    p.proc.once('exit', (code, signal) => {
      if (!stopping) console.error(`[kv] peer ${k} (${bases[k]}) exited during the run: code ${code} signal ${signal}\n${tails[k].text}`)
    })
  })
  return {
    name: 'agentmesh (HTTP, 3 CLI peers)',
    ...http,
    pids: peers.map(p => p.proc.pid ?? 0),
    fsync: async () => await Promise.all(bases.map(async b => meanOf(await (await fetch(`${b}/metrics`)).text(), 'agentmesh_raft_fsync_latency_seconds'))),
    stop: async () => {
      stopping = true
      http.close()
      await Promise.all(peers.map(async p => await p.stop()))
    }
  }
}

/** puts and gets over `PUT|GET /kv/:key` with keep-alive, call i to member i mod n (as etcd's client spreads them) */
function httpKv (bases: string[]): Pick<Client, 'put' | 'get' | 'retried'> & { close: () => void } {
  // idle sockets are dropped before the admin server's 5 s keep-alive timeout closes them (Node's
  // agent ignores the server's `Keep-Alive: timeout=5` hint unless it has a timeout of its own)
  const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 4_000 })
  const body = JSON.stringify({ value })
  const retried = { n: 0 }
  return {
    retried: () => retried.n,
    put: async (key, i) => { await httpCall(agent, bases[i % bases.length], 'PUT', `/kv/${key}`, body, retried) },
    get: async (key, i) => { await httpCall(agent, bases[i % bases.length], 'GET', `/kv/${key}`, undefined, retried) },
    close: () => { agent.destroy() }
  }
}

/** sends SIGTERM to each of `procs` and waits for them to exit */
async function terminate (procs: ChildProcess[]): Promise<void> {
  await Promise.all(procs.map(async p => {
    if (p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill('SIGTERM')
    await exited
  }))
}

/**
 * three members of bench/_kv-layer.ts in `mode` (see there), linked and, for `consensus`, formed
 * into one group of 3 voters; driven over HTTP as ours are
 */
async function startLayer (dir: string, mode: 'stack' | 'consensus'): Promise<Client> {
  mkdirSync(dir, { recursive: true })
  interface Member { proc: ChildProcess, next: () => Promise<Record<string, any>>, tell: (o: unknown) => void }
  const members: Member[] = []
  for (let index = 0; index < 3; index++) {
    const proc = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('./_kv-layer.ts', import.meta.url))], {
      env: { ...process.env, KV_LAYER: mode, KV_LAYER_INDEX: String(index), KV_LAYER_DIR: dir },
      stdio: ['pipe', 'pipe', 'inherit']
    })
    const waiters: Array<{ resolve: (o: Record<string, any>) => void, reject: (err: Error) => void }> = []
    let exited: Error | undefined
    createInterface({ input: proc.stdout! }).on('line', line => {
      const o = JSON.parse(line) as Record<string, any>
      // a member's announcement goes to every member (each keeps the others')
      if (o.ann !== undefined) { for (const m of members) m.tell(o); return }
      waiters.shift()?.resolve(o)
    })
    // a member that dies (its stderr is ours) fails what waits for its answer instead of hanging it
    proc.once('exit', (code, signal) => {
      exited = new Error(`${mode} member ${index} exited: code ${code} signal ${signal}`)
      for (const w of waiters.splice(0)) w.reject(exited)
    })
    members.push({
      proc,
      next: async () => await new Promise((resolve, reject) => { if (exited !== undefined) reject(exited); else waiters.push({ resolve, reject }) }),
      tell: o => { if (exited === undefined) proc.stdin!.write(JSON.stringify(o) + '\n') }
    })
  }
  const ask = async (m: Member, o: unknown): Promise<Record<string, any>> => { const answer = m.next(); m.tell(o); return await answer }
  const ready = (await Promise.all(members.map(async m => await m.next()))).map(o => o.ready as { addr: string, http: string })
  await Promise.all(members.map(async m => await ask(m, ready.map(r => r.addr))))
  if (mode === 'consensus') {
    await waitUntil(async () => {
      const st = await Promise.all(members.map(async m => (await ask(m, { status: true })).status as { role: string, voters: number }))
      return st.every(s => s.voters === 3 && (s.role === 'leader' || s.role === 'follower'))
    }, 60_000, 'a group of 3 voters')
  }
  const http = httpKv(ready.map(r => r.http))
  return {
    name: mode === 'stack' ? 'the stack alone (no Raft)' : 'our consensus on that stack',
    ...http,
    pids: members.map(m => m.proc.pid ?? 0),
    // neither setup reports its log writes' times
    fsync: async () => [NaN],
    stop: async () => {
      http.close()
      await terminate(members.map(m => m.proc))
    }
  }
}

/** mean of a Prometheus histogram: sum / count */
function meanOf (text: string, name: string): number {
  const value = (suffix: string): number => Number(text.split('\n').find(l => l.startsWith(`${name}_${suffix}`))?.split(' ').pop())
  return value('sum') / value('count')
}

/** runs n calls, inFlight at a time; a failed call is counted (the first few printed), not fatal */
async function run (n: number, inFlight: number, one: (i: number) => Promise<void>): Promise<{ rps: number, lat: number[], failed: number }> {
  const lat: number[] = []
  let next = 0
  let failed = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      const i = next++
      const t = performance.now()
      try {
        await one(i)
        lat.push(performance.now() - t)
      } catch (err) {
        if (++failed <= 5) console.error(`[kv] call ${i} failed: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }))
  return { rps: (n - failed) / ((performance.now() - start) / 1000), lat, failed }
}

/** CPU ms per call: the members' together (undefined where /proc cannot tell) and this process's, the client */
interface CallCpu { members: number | undefined, client: number }

interface Figures { failed: number, retried: number, fsyncMs: number, idleCpu: number | undefined, seqP50: number, seqP99: number, put1: number, put16: number, put64: number, get1: number, get64: number, cpu: CallCpu[] }

/** the members' CPU ms together between two readings; undefined if any reading is missing */
function membersSpent (before: Array<number | undefined>, after: Array<number | undefined>): number | undefined {
  let sum = 0
  for (const [k, ms] of after.entries()) {
    const was = before[k]
    if (ms === undefined || was === undefined) return undefined
    sum += ms - was
  }
  return sum
}

/** the measured rows, in order: calls, in flight, and the call */
function rows (c: Client): Array<{ what: string, n: number, inFlight: number, call: (i: number) => Promise<void> }> {
  return [
    { what: 'sequential puts', n: SEQ_N, inFlight: 1, call: async i => { await c.put(`k${i % 100}`, i) } },
    { what: 'puts, 16 in flight', n: PAR_N, inFlight: 16, call: async i => { await c.put(`k${i % 1000}`, i) } },
    { what: 'puts, 64 in flight', n: PAR_N, inFlight: 64, call: async i => { await c.put(`k${i % 1000}`, i) } },
    { what: 'gets, 1 in flight', n: SEQ_N, inFlight: 1, call: async i => { await c.get(`k${i % 1000}`, i) } },
    { what: 'gets, 64 in flight', n: PAR_N, inFlight: 64, call: async i => { await c.get(`k${i % 1000}`, i) } }
  ]
}

async function measure (c: Client): Promise<Figures> {
  const phase = (what: string): void => { console.error(`[kv ${new Date().toISOString()}] ${c.name}: ${what}`) }
  // The same for both sides: every row once, unmeasured, then every row measured. Our peers run
  // on V8, whose optimizing compiler takes a function up only once it has run hot; each row's
  // shape (one call at a time, 16, 64, reads) runs code paths of its own, and with a single
  // warm-up of puts the peers were still compiling 5-19 functions a second (5-10% of a core
  // each) through the measured rows, and sequential puts kept getting faster for ~10 s after it.
  const all = rows(c)
  for (const row of all) {
    phase(`warm-up: ${row.what}`)
    await run(row.n, row.inFlight, row.call)
  }
  const measured: Array<Awaited<ReturnType<typeof run>>> = []
  const cpu: CallCpu[] = []
  const cpuNow = (): { members: Array<number | undefined>, client: number } => ({ members: c.pids.map(processCpuMs), client: ownCpuMs() })
  // what the members spend with no calls at all (heartbeats, gossip, timers): a share of every
  // row's CPU, and what an idle mesh costs its machine
  phase('idle')
  const idleFrom = cpuNow().members
  const idleStart = performance.now()
  await new Promise(resolve => setTimeout(resolve, IDLE_MS))
  const idleSpent = membersSpent(idleFrom, cpuNow().members)
  const idleCpu = idleSpent === undefined ? undefined : idleSpent / ((performance.now() - idleStart) / 1000)
  for (const row of all) {
    phase(row.what)
    const before = cpuNow()
    const result = await run(row.n, row.inFlight, row.call)
    const after = cpuNow()
    const calls = Math.max(1, row.n - result.failed)
    const spent = membersSpent(before.members, after.members)
    cpu.push({ members: spent === undefined ? undefined : spent / calls, client: (after.client - before.client) / calls })
    measured.push(result)
  }
  const [seq, put16, put64, get1, get64] = measured
  const fsync = await c.fsync()
  return {
    failed: seq.failed + put16.failed + put64.failed + get1.failed + get64.failed,
    retried: c.retried?.() ?? 0,
    fsyncMs: 1000 * fsync.reduce((a, b) => a + b, 0) / fsync.length,
    idleCpu,
    seqP50: percentile(seq.lat, 50),
    seqP99: percentile(seq.lat, 99),
    put1: seq.rps,
    put16: put16.rps,
    put64: put64.rps,
    get1: get1.rps,
    get64: get64.rps,
    cpu
  }
}

/** one column: started fresh in its own directory, measured, stopped; undefined if it cannot run here */
type Column = (dir: string) => Promise<Client | undefined>
const columns: Column[] = [
  async d => await startEtcd(d),
  ...(layers ? (['stack', 'consensus'] as const).map(mode => async (d: string) => await startLayer(d, mode)) : []),
  async d => await startOurs(d)
]

const allRounds: Array<Array<[string, Figures]>> = []
for (let round = 1; round <= rounds; round++) {
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-bench-kv-'))
  const order = columns.map((_, k) => k)
  if (round % 2 === 0) order.reverse()
  const measured = new Map<number, [string, Figures]>()
  try {
    for (const k of order) {
      const c = await columns[k](join(dir, `column-${k}`))
      if (c === undefined) {
        if (round === 1) console.log('etcd is not installed (apt-get install etcd-server): measuring ours alone')
        continue
      }
      try { measured.set(k, [c.name, await measure(c)]) } finally { await c.stop() }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const results = [...measured].sort((a, b) => a[0] - b[0]).map(([, r]) => r)
  allRounds.push(results)
  printTable(rounds > 1 ? `round ${round} of ${rounds} (${round % 2 === 0 ? 'ours first' : 'etcd first'})` : '', results)
}
if (rounds > 1) {
  printTable(`median of ${rounds} rounds`, allRounds[0].map(([name], k) => [name, medianFigures(allRounds.map(r => r[k][1]))]))
  printRatios(allRounds)
}

/** the sequential and the 16-in-flight put rows' CPU per put, of the members or of the client */
function cpuCell (f: Figures, who: keyof CallCpu): string {
  return [f.cpu[0], f.cpu[1]].map(row => row[who] === undefined ? '-' : fmt(row[who] as number, 2)).join(' / ')
}

/** each figure's median over rounds (failed and resent calls: their sum) */
function medianFigures (fs: Figures[]): Figures {
  const m = (pick: (f: Figures) => number | undefined): number | undefined => {
    const xs = fs.map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x))
    return xs.length === 0 ? undefined : median(xs)
  }
  const n = (pick: (f: Figures) => number): number => m(pick) ?? NaN
  return {
    failed: fs.reduce((a, f) => a + f.failed, 0),
    retried: fs.reduce((a, f) => a + f.retried, 0),
    fsyncMs: n(f => f.fsyncMs),
    idleCpu: m(f => f.idleCpu),
    seqP50: n(f => f.seqP50),
    seqP99: n(f => f.seqP99),
    put1: n(f => f.put1),
    put16: n(f => f.put16),
    put64: n(f => f.put64),
    get1: n(f => f.get1),
    get64: n(f => f.get64),
    cpu: fs[0].cpu.map((_, row) => ({ members: m(f => f.cpu[row].members), client: n(f => f.cpu[row].client) }))
  }
}

/** per round, ours (the last column) as a multiple of etcd's (the first) on each row the issue sets a target for */
function printRatios (all: Array<Array<[string, Figures]>>): void {
  if (all[0].length < 2 || !all[0][0][0].startsWith('etcd')) return
  const rows: Array<[string, (f: Figures) => number, boolean]> = [
    ['put p50 (etcd ms / ours)', f => f.seqP50, false],
    ['put p99 (etcd ms / ours)', f => f.seqP99, false],
    ['put ops/s, 1 in flight', f => f.put1, true],
    ['put ops/s, 16 in flight', f => f.put16, true],
    ['put ops/s, 64 in flight', f => f.put64, true],
    ['linearizable get ops/s, 1 in flight', f => f.get1, true],
    ['linearizable get ops/s, 64 in flight', f => f.get64, true]
  ]
  const ratio = (r: Array<[string, Figures]>, pick: (f: Figures) => number, higherBetter: boolean): number => {
    const etcd = pick(r[0][1])
    const ours = pick(r[r.length - 1][1])
    return higherBetter ? ours / etcd : etcd / ours
  }
  console.log(`\n${all[0][all[0].length - 1][0]} as a multiple of etcd's figure (1.00 or more: at least etcd's), per round`)
  table(['', ...all.map((_, k) => `round ${k + 1}`), 'median'], rows.map(([what, pick, hb]) => {
    const xs = all.map(r => ratio(r, pick, hb))
    return [what, ...xs.map(x => fmt(x, 2)), fmt(median(xs), 2)]
  }))
}

function printTable (title: string, results: Array<[string, Figures]>): void {
  console.log(`\nkv${title === '' ? '' : `, ${title}`}: 3 members on 127.0.0.1, fsynced; ${SEQ_N} sequential ops, ${PAR_N} ops per concurrent row; 100 B values`)
  table(['', ...results.map(([name]) => name)], [
    ['put p50 ms (1 client)', ...results.map(([, f]) => fmt(f.seqP50, 2))],
    ['put p99 ms (1 client)', ...results.map(([, f]) => fmt(f.seqP99, 2))],
    ['put ops/s, 1 in flight', ...results.map(([, f]) => fmt(f.put1))],
    ['put ops/s, 16 in flight', ...results.map(([, f]) => fmt(f.put16))],
    ['put ops/s, 64 in flight', ...results.map(([, f]) => fmt(f.put64))],
    ['linearizable get ops/s, 1 in flight', ...results.map(([, f]) => fmt(f.get1))],
    ['linearizable get ops/s, 64 in flight', ...results.map(([, f]) => fmt(f.get64))],
    ['CPU ms per put, members together (1 / 16 in flight)', ...results.map(([, f]) => cpuCell(f, 'members'))],
    ['CPU ms per put, the client (1 / 16 in flight)', ...results.map(([, f]) => cpuCell(f, 'client'))],
    ['CPU ms per s at idle, members together', ...results.map(([, f]) => f.idleCpu === undefined ? '-' : fmt(f.idleCpu, 1))],
    ['mean fsync ms per write batch (members)', ...results.map(([, f]) => fmt(f.fsyncMs, 2))],
    ['failed calls (of all rows)', ...results.map(([, f]) => String(f.failed))],
    ['calls resent after a keep-alive reset', ...results.map(([, f]) => String(f.retried))]
  ])
}
