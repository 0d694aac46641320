/**
 * npm run bench -- broker [--quick]
 *
 * The MessageBroker between in-process Node peers (TCP + Noise + yamux on 127.0.0.1), side by side
 * in one run with its floor (bare libp2p: a raw request/response stream with the same framing,
 * raw gossipsub) and with NATS (nats-server started here on 127.0.0.1):
 * 1. RPC round trip, 100 B JSON: 1 and 64 in flight (req/s, p50, p99).
 * 2. pub/sub, one publisher -> two subscribers: messages/s until both have every message.
 * 3. tracing on vs off (issue 7's measurement): a traced and an untraced set of peers, both kept
 *    up, measured in short interleaved rounds (off, on / on, off, ...); the median of the per-round
 *    differences is reported, so load drift on the shared machine does not land on one side.
 * 4. durable sends (memory store, LevelDB with fsync) until acked; the envelope codec alone.
 * Rounds alternate between the variants and the median is reported (the machine is shared); the
 * pub/sub ratio to raw gossipsub is also given as the median of per-round ratios.
 * SIGN=1 signs every envelope.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '#platform/storage'
import { createMessageId, decodeEnvelope, encodeEnvelope } from '../src/messaging/index.ts'
import { MemoryStore } from '../src/storage/memory.ts'
import { fmt, median, percentile, table } from './_stats.ts'
import { MESH, brokerPeer, connectPeers, gossipReady, libp2pPeer, natsServer, rawRpc } from './_broker-setup.ts'
import type { Store } from '../src/storage/types.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 1 : 3
const SEQ_N = quick ? 500 : 2000
const PAR_N = quick ? 3000 : 10_000
const PUB_N = quick ? 3000 : 10_000
const SEND_N = quick ? 300 : 2000
const PUB_WINDOW = 500
/** interleaved on/off pairs for the tracing cost (odd: the median is one of them), and the work in each */
const TRACE_ROUNDS = quick ? 3 : 7
const TRACE_SEQ_N = quick ? 200 : 500
const TRACE_PAR_N = quick ? 1000 : 3000
const TRACE_PUB_N = quick ? 1000 : 2000
const payload = { text: 'x'.repeat(84) } // ~100 B of JSON
const payloadBytes = new TextEncoder().encode(JSON.stringify(payload))
const sign = process.env.SIGN === '1'

/** cpu: microseconds of this process's CPU per operation (all in-process peers together; NATS's server excluded) */
interface Sample { rps: number, p50?: number, p99?: number, cpu?: number }
interface Row { what: string, samples: Sample[] }

function summarize (samples: Sample[]): Sample {
  const pick = (k: 'rps' | 'p50' | 'p99' | 'cpu'): number | undefined => samples[0]?.[k] == null ? undefined : median(samples.map(s => s[k] as number))
  return { rps: pick('rps') ?? NaN, p50: pick('p50'), p99: pick('p99'), cpu: pick('cpu') }
}

async function timeRequests (n: number, inFlight: number, one: () => Promise<unknown>): Promise<Sample> {
  const lat: number[] = []
  let next = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      next++
      const t = performance.now()
      await one()
      lat.push(performance.now() - t)
    }
  }))
  return { rps: n / ((performance.now() - start) / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99), cpu: cpuPerOp(cpu0, n) }
}

/** publishes n messages (at most `window` ahead of the slower subscriber); messages/s until both have all */
function cpuPerOp (since: NodeJS.CpuUsage, n: number): number {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / n
}

async function pump (n: number, publish: (i: number) => Promise<unknown> | undefined, received: () => number): Promise<Sample> {
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  // a stall (no message received for 30 s) is an error naming where it stopped, not a hang
  let deadline = Date.now() + 30_000
  let last = received()
  const waitWhile = async (busy: () => boolean, where: string): Promise<void> => {
    while (busy()) {
      const now = received()
      if (now !== last) { last = now; deadline = Date.now() + 30_000 }
      if (Date.now() > deadline) throw new Error(`subscribers stalled at ${now} of ${n} (${where})`)
      await new Promise(resolve => setImmediate(resolve))
    }
  }
  for (let i = 0; i < n; i++) {
    await waitWhile(() => i - received() > PUB_WINDOW, `publishing #${i}`)
    await publish(i)
  }
  await waitWhile(() => received() < n, 'after the last publication')
  return { rps: n / ((performance.now() - start) / 1000), cpu: cpuPerOp(cpu0, n) }
}

// ------------------------------------------------------------------------------------- RPC

/** two connected broker peers, warmed up; `one()` is a request from the first to the second */
async function brokerRpcSetup (tracing: boolean): Promise<{ one: () => Promise<unknown>, stop: () => Promise<void> }> {
  const a = await brokerPeer({ tracing, sign })
  const b = await brokerPeer({ tracing, sign })
  const stop = async (): Promise<void> => { await a.stop(); await b.stop() }
  try {
    await connectPeers(a.libp2p, b.libp2p)
    b.broker.setRequestHandler(req => req.data)
    const target = { kind: 'peer' as const, id: b.id }
    const one = async (): Promise<unknown> => await a.broker.request(target, payload)
    await timeRequests(500, 16, one) // warm-up
    return { one, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function brokerRpc (): Promise<[Sample, Sample]> {
  const { one, stop } = await brokerRpcSetup(false)
  try {
    return [await timeRequests(SEQ_N, 1, one), await timeRequests(PAR_N, 64, one)]
  } finally {
    await stop()
  }
}

async function rawLibp2pRpc (): Promise<[Sample, Sample]> {
  const a = await libp2pPeer()
  const b = await libp2pPeer()
  try {
    await connectPeers(a, b)
    const raw = await rawRpc(a, b)
    // the same work per message as a JSON payload costs at both ends
    const one = async (): Promise<unknown> => JSON.parse(new TextDecoder().decode(await raw.request(new TextEncoder().encode(JSON.stringify(payload)))))
    await timeRequests(500, 16, one)
    const r: [Sample, Sample] = [await timeRequests(SEQ_N, 1, one), await timeRequests(PAR_N, 64, one)]
    raw.close()
    return r
  } finally {
    await a.stop(); await b.stop()
  }
}

async function natsRpc (nats: NonNullable<Awaited<ReturnType<typeof natsServer>>>): Promise<[Sample, Sample]> {
  const client = await nats.connect()
  const responder = await nats.connect()
  try {
    responder.subscribe('echo', { callback: (_err, msg) => { msg.respond(msg.data) } })
    await responder.flush()
    const one = async (): Promise<unknown> => (await client.request('echo', new TextEncoder().encode(JSON.stringify(payload)), { timeout: 5000 })).json()
    await timeRequests(500, 16, one)
    return [await timeRequests(SEQ_N, 1, one), await timeRequests(PAR_N, 64, one)]
  } finally {
    await client.close(); await responder.close()
  }
}

// ---------------------------------------------------------------------------------- pub/sub

/** a publisher and two subscribers on `topic`, warmed up; `run(n)` publishes n messages until both have them */
async function brokerPubsubSetup (tracing: boolean, topic: string): Promise<{ run: (n: number) => Promise<Sample>, stop: () => Promise<void> }> {
  const [p, s1, s2] = [await brokerPeer({ tracing, sign }), await brokerPeer({ tracing, sign }), await brokerPeer({ tracing, sign })]
  const stop = async (): Promise<void> => { for (const x of [p, s1, s2]) await x.stop() }
  try {
    await connectPeers(s1.libp2p, p.libp2p); await connectPeers(s2.libp2p, p.libp2p)
    const got = [0, 0]
    s1.broker.subscribe(topic, () => { got[0]++ })
    s2.broker.subscribe(topic, () => { got[1]++ })
    const full = `agentmesh/${MESH}/v1/t/${topic}`
    await gossipReady(p.libp2p, s1.libp2p, full); await gossipReady(p.libp2p, s2.libp2p, full)
    const received = (): number => Math.min(got[0], got[1])
    const run = async (n: number): Promise<Sample> => {
      got[0] = got[1] = 0
      return await pump(n, async () => await p.broker.publishMessage(topic, payload), received)
    }
    await run(500) // warm-up
    return { run, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function brokerPubsub (): Promise<Sample> {
  const { run, stop } = await brokerPubsubSetup(false, 'bench')
  try {
    return await run(PUB_N)
  } finally {
    await stop()
  }
}

// ------------------------------------------------------------------------- tracing on vs off

interface TracingDiff { what: string, off: Sample[], on: Sample[] }

/**
 * A traced and an untraced set of peers, both up for the whole measurement, run the same short
 * workloads in interleaved rounds (off then on, then on then off, ...): each round gives one
 * paired difference, and the median of those is the tracing cost.
 */
async function tracingCost (): Promise<TracingDiff[]> {
  const stops: Array<() => Promise<void>> = []
  const variant = async (tracing: boolean): Promise<{ rpc: Awaited<ReturnType<typeof brokerRpcSetup>>, pub: Awaited<ReturnType<typeof brokerPubsubSetup>> }> => {
    const rpc = await brokerRpcSetup(tracing)
    stops.push(rpc.stop)
    const pub = await brokerPubsubSetup(tracing, tracing ? 'trace-on' : 'trace-off')
    stops.push(pub.stop)
    return { rpc, pub }
  }
  try {
    const off = await variant(false)
    const on = await variant(true)
    const workloads: Array<[string, (v: typeof off) => Promise<Sample>]> = [
      ['RPC, 1 in flight', async v => await timeRequests(TRACE_SEQ_N, 1, v.rpc.one)],
      ['RPC, 64 in flight', async v => await timeRequests(TRACE_PAR_N, 64, v.rpc.one)],
      ['pub/sub 1 -> 2', async v => await v.pub.run(TRACE_PUB_N)]
    ]
    const diffs: TracingDiff[] = workloads.map(([what]) => ({ what, off: [], on: [] }))
    for (let round = 0; round < TRACE_ROUNDS; round++) {
      for (const [i, [, measure]] of workloads.entries()) {
        for (const tracing of round % 2 === 0 ? [false, true] : [true, false]) {
          (tracing ? diffs[i].on : diffs[i].off).push(await measure(tracing ? on : off))
        }
      }
    }
    return diffs
  } finally {
    for (const stop of stops) await stop()
  }
}

async function rawGossipsub (): Promise<Sample> {
  const [p, s1, s2] = [await libp2pPeer(), await libp2pPeer(), await libp2pPeer()]
  try {
    await connectPeers(s1, p); await connectPeers(s2, p)
    const topic = `agentmesh/${MESH}/v1/t/raw`
    const got = [0, 0]
    for (const [i, s] of [s1, s2].entries()) {
      s.services.pubsub.subscribe(topic)
      // the same work per message as a JSON payload costs the broker's subscribers
      s.services.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === topic) { JSON.parse(new TextDecoder().decode(evt.detail.data)); got[i]++ } })
    }
    await gossipReady(p, s1, topic); await gossipReady(p, s2, topic)
    const received = (): number => Math.min(got[0], got[1])
    const publish = async (): Promise<unknown> => await p.services.pubsub.publish(topic, new TextEncoder().encode(JSON.stringify(payload)))
    await pump(500, publish, received)
    got[0] = got[1] = 0
    return await pump(PUB_N, publish, received)
  } finally {
    for (const x of [p, s1, s2]) await x.stop()
  }
}

async function natsPubsub (nats: NonNullable<Awaited<ReturnType<typeof natsServer>>>): Promise<Sample> {
  const [pub, s1, s2] = [await nats.connect(), await nats.connect(), await nats.connect()]
  try {
    const got = [0, 0]
    for (const [i, s] of [s1, s2].entries()) s.subscribe('bench', { callback: (_err, msg) => { msg.json(); got[i]++ } })
    await s1.flush(); await s2.flush()
    const received = (): number => Math.min(got[0], got[1])
    const publish = (): undefined => { pub.publish('bench', new TextEncoder().encode(JSON.stringify(payload))) }
    await pump(500, publish, received)
    got[0] = got[1] = 0
    return await pump(PUB_N, publish, received)
  } finally {
    await pub.close(); await s1.close(); await s2.close()
  }
}

// ------------------------------------------------------------------------- durable sends, codec

async function brokerSends (store: Store): Promise<Sample> {
  const a = await brokerPeer({ tracing: false, store, sign })
  const b = await brokerPeer({ tracing: false, sign })
  try {
    await connectPeers(a.libp2p, b.libp2p)
    let got = 0
    b.broker.setMessageHandler(() => { got++ })
    const start = performance.now()
    const acceptLat: number[] = []
    const ids = []
    for (let i = 0; i < SEND_N; i++) {
      const t = performance.now()
      ids.push((await a.broker.send({ kind: 'peer', id: b.id }, payload)).id)
      acceptLat.push(performance.now() - t)
    }
    for (const id of ids) await a.broker.ensureDelivery(id, { signal: AbortSignal.timeout(120_000) })
    if (got !== SEND_N) throw new Error(`receiver got ${got} of ${SEND_N}`)
    return { rps: SEND_N / ((performance.now() - start) / 1000), p50: percentile(acceptLat, 50), p99: percentile(acceptLat, 99) }
  } finally {
    await a.stop(); await b.stop()
  }
}

function codec (): Sample {
  const env = {
    kind: 'message' as const, id: createMessageId(), sender: '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK', seq: 1,
    hlc: { wallMs: Date.now(), logical: 0 }, traceparent: '', contentType: 'application/json', payload: payloadBytes
  }
  const n = quick ? 50_000 : 200_000
  const start = performance.now()
  for (let i = 0; i < n; i++) decodeEnvelope(encodeEnvelope(env))
  return { rps: n / ((performance.now() - start) / 1000) }
}

// ------------------------------------------------------------------------------------- run

const rows = new Map<string, Row>()
const add = (what: string, s: Sample): void => {
  console.error(`# ${what}: ${fmt(s.rps)}/s`)
  const row = rows.get(what) ?? { what, samples: [] }
  row.samples.push(s)
  rows.set(what, row)
}
const nats = await natsServer()
try {
  for (let round = 0; round < ROUNDS; round++) {
    // which of ours / raw goes first alternates, so neither always gets the quieter moment
    const ours = async (): Promise<void> => {
      const [seq, par] = await brokerRpc()
      add('broker RPC, 1 in flight', seq)
      add('broker RPC, 64 in flight', par)
      add('broker pub/sub 1 -> 2', await brokerPubsub())
    }
    const raw = async (): Promise<void> => {
      const [rseq, rpar] = await rawLibp2pRpc()
      add('raw libp2p stream RPC, 1 in flight', rseq)
      add('raw libp2p stream RPC, 64 in flight', rpar)
      add('raw gossipsub 1 -> 2', await rawGossipsub())
    }
    if (round % 2 === 0) { await ours(); await raw() } else { await raw(); await ours() }
    if (nats != null) {
      const [nseq, npar] = await natsRpc(nats)
      add('NATS request/reply, 1 in flight', nseq)
      add('NATS request/reply, 64 in flight', npar)
      add('NATS pub/sub 1 -> 2', await natsPubsub(nats))
    }
  }
} finally {
  nats?.stop()
}
const tracing = await tracingCost()
add('broker durable send (memory store), until all acked', await brokerSends(new MemoryStore()))
const dir = mkdtempSync(join(tmpdir(), 'agentmesh-bench-outbox-'))
try {
  const level = await openStore(dir)
  add('broker durable send (LevelDB, fsync on accept), until all acked', await brokerSends(level))
  await level.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
add('envelope encode+decode (in process)', codec())

const s = (what: string): Sample | undefined => { const r = rows.get(what); return r == null ? undefined : summarize(r.samples) }
table(['what', 'per second', 'p50 ms', 'p99 ms', 'cpu us/op'], [...rows.values()].map(r => {
  const m = summarize(r.samples)
  return [r.what, fmt(m.rps), m.p50 != null ? fmt(m.p50, 3) : '', m.p99 != null ? fmt(m.p99, 3) : '', m.cpu != null ? fmt(m.cpu, 1) : '']
}))

const ratio = (a: number | undefined, b: number | undefined): string => a != null && b != null ? (a / b).toFixed(2) : '–'
/** per-round ratios a_i / b_i of two rows measured in the same rounds: their median, and all of them */
const pairedRatio = (a: string, b: string, k: 'rps' | 'cpu', invert = false): string => {
  const [x, y] = [rows.get(a)?.samples ?? [], rows.get(b)?.samples ?? []]
  const rs = x.map((sa, i) => invert ? (y[i]?.[k] as number) / (sa[k] as number) : (sa[k] as number) / (y[i]?.[k] as number)).filter(Number.isFinite)
  return rs.length === 0 ? '–' : `${median(rs).toFixed(2)}x (rounds: ${rs.map(r => r.toFixed(2)).join(', ')})`
}
console.log(`\nmedian of ${ROUNDS} round(s); payload ${payloadBytes.length} B JSON${sign ? '; envelopes signed' : ''}`)
console.log(`pub/sub vs raw gossipsub:            ${ratio(s('broker pub/sub 1 -> 2')?.rps, s('raw gossipsub 1 -> 2')?.rps)}x msgs/s, ${ratio(s('raw gossipsub 1 -> 2')?.cpu, s('broker pub/sub 1 -> 2')?.cpu)}x by CPU per message   (target >= 0.9x)`)
console.log(`  same, per round:                   ${pairedRatio('broker pub/sub 1 -> 2', 'raw gossipsub 1 -> 2', 'rps')} msgs/s; ${pairedRatio('broker pub/sub 1 -> 2', 'raw gossipsub 1 -> 2', 'cpu', true)} by CPU`)
console.log(`RPC p50 vs NATS, 1 in flight:        ${ratio(s('broker RPC, 1 in flight')?.p50, s('NATS request/reply, 1 in flight')?.p50)}x   (target <= 2x)`)
console.log(`RPC p50 vs NATS, 64 in flight:       ${ratio(s('broker RPC, 64 in flight')?.p50, s('NATS request/reply, 64 in flight')?.p50)}x`)
console.log(`RPC p50 vs raw stream, 1 in flight:  ${ratio(s('broker RPC, 1 in flight')?.p50, s('raw libp2p stream RPC, 1 in flight')?.p50)}x`)
console.log(`RPC req/s vs raw stream, 64 in flight: ${ratio(s('broker RPC, 64 in flight')?.rps, s('raw libp2p stream RPC, 64 in flight')?.rps)}x`)

// tracing: per interleaved pair, throughput lost and CPU per op added with tracing on
const signedPct = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`
console.log(`\ntracing on vs off: ${TRACE_ROUNDS} interleaved pairs per workload (both peer sets up throughout); median of the per-pair differences [min .. max]   (target <= 5%)`)
table(['workload', 'off /s', 'on /s', 'throughput lost', 'range', 'CPU per op added', 'range'], tracing.map(d => {
  const lost = d.on.map((on, i) => (1 - on.rps / d.off[i].rps) * 100)
  const cpu = d.on.map((on, i) => ((on.cpu as number) / (d.off[i].cpu as number) - 1) * 100)
  return [d.what, fmt(median(d.off.map(x => x.rps))), fmt(median(d.on.map(x => x.rps))),
    signedPct(median(lost)), `${signedPct(Math.min(...lost))} .. ${signedPct(Math.max(...lost))}`,
    signedPct(median(cpu)), `${signedPct(Math.min(...cpu))} .. ${signedPct(Math.max(...cpu))}`]
}))
process.exit(0)
