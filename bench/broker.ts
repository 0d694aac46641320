/**
 * npm run bench -- messaging [--quick]
 *
 * MessageBroker between two in-process Node peers (TCP on 127.0.0.1), side by side with NATS
 * (nats-server + the `nats` client, measured in the same run when nats-server is installed):
 * 1. request/reply, 100 B payload: sequential (1 in flight) and 64 in flight.
 * 2. durable sends: accepted into the outbox (MemoryStore and LevelDB with fsync), acked by the
 *    receiver; messages/s until every one is delivered.
 * 3. envelope codec alone: encode + decode of a 100 B message.
 * SIGN=1 signs every envelope (signEnvelopes: true).
 */
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { connect } from 'nats'
import { openStore } from '#platform/storage'
import { createMeshLibp2p } from '../src/network/index.ts'
import { MessageBroker, createMessageId, decodeEnvelope, encodeEnvelope } from '../src/messaging/index.ts'
import { MemoryStore } from '../src/storage/memory.ts'
import { systemClock } from '../src/util/clock.ts'
import { seededRng } from '../src/util/prng.ts'
import { MonitoringSystem } from '../src/monitoring/index.ts'
import { fmt, percentile, table } from './_stats.ts'
import type { Store } from '../src/storage/types.ts'

const quick = process.argv.includes('--quick')
const SEQ_N = quick ? 500 : 3000
const PAR_N = quick ? 2000 : 10_000
const SEND_N = quick ? 500 : 3000
const payload = { text: 'x'.repeat(84) } // ~100 B of JSON

interface Row { what: string, rps: number, p50?: number, p99?: number }

async function peer (store: Store): Promise<{ broker: MessageBroker, id: string, stop: () => Promise<void>, addr: any, libp2p: any }> {
  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await createMeshLibp2p({ privateKey, mesh: 'bench-msg', role: 'node', host: '127.0.0.1', port: 0 })
  const id = libp2p.peerId.toString()
  const telemetry = new MonitoringSystem({ peerId: id, tracing: false })
  const broker = new MessageBroker({ libp2p, peerId: id, telemetry, store, clock: systemClock, rng: seededRng(1), privateKey }, { mesh: 'bench-msg', signEnvelopes: process.env.SIGN === '1' })
  await broker.start()
  return { broker, id, libp2p, addr: libp2p.getMultiaddrs()[0], stop: async () => { await broker.stop(); await libp2p.stop() } }
}

async function timeRequests (n: number, inFlight: number, one: () => Promise<unknown>): Promise<{ rps: number, lat: number[] }> {
  const lat: number[] = []
  let next = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      next++
      const t = performance.now()
      await one()
      lat.push(performance.now() - t)
    }
  }))
  return { rps: n / ((performance.now() - start) / 1000), lat }
}

async function brokerRpc (): Promise<Row[]> {
  const a = await peer(new MemoryStore())
  const b = await peer(new MemoryStore())
  try {
    await a.libp2p.dial(b.addr)
    b.broker.setRequestHandler(req => req.data)
    const target = { kind: 'peer' as const, id: b.id }
    await timeRequests(200, 8, async () => await a.broker.request(target, payload)) // warm-up
    const seq = await timeRequests(SEQ_N, 1, async () => await a.broker.request(target, payload))
    const par = await timeRequests(PAR_N, 64, async () => await a.broker.request(target, payload))
    return [
      { what: 'broker request/reply, 1 in flight', rps: seq.rps, p50: percentile(seq.lat, 50), p99: percentile(seq.lat, 99) },
      { what: 'broker request/reply, 64 in flight', rps: par.rps, p50: percentile(par.lat, 50), p99: percentile(par.lat, 99) }
    ]
  } finally {
    await a.stop(); await b.stop()
  }
}

async function brokerSends (label: string, store: Store): Promise<Row> {
  const a = await peer(store)
  const b = await peer(new MemoryStore())
  try {
    await a.libp2p.dial(b.addr)
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
    const secs = (performance.now() - start) / 1000
    if (got !== SEND_N) throw new Error(`receiver got ${got} of ${SEND_N}`)
    return { what: `broker durable send (${label}), sequential accept, until all acked`, rps: SEND_N / secs, p50: percentile(acceptLat, 50), p99: percentile(acceptLat, 99) }
  } finally {
    await a.stop(); await b.stop()
  }
}

function codec (): Row {
  const env = {
    kind: 'message' as const, id: createMessageId(), sender: '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK', seq: 1,
    hlc: { wallMs: Date.now(), logical: 0 }, traceparent: '', contentType: 'application/json', payload: new TextEncoder().encode(JSON.stringify(payload))
  }
  const n = quick ? 50_000 : 200_000
  const start = performance.now()
  for (let i = 0; i < n; i++) decodeEnvelope(encodeEnvelope(env))
  return { what: 'envelope encode+decode (in process)', rps: n / ((performance.now() - start) / 1000) }
}

async function freePort (): Promise<number> {
  return await new Promise(resolve => {
    const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as any).port; s.close(() => resolve(p)) })
  })
}

async function natsRpc (): Promise<Row[]> {
  if (spawnSync('which', ['nats-server']).status !== 0) return []
  const port = await freePort()
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' })
  try {
    let nc: Awaited<ReturnType<typeof connect>> | undefined
    for (let i = 0; i < 50 && nc == null; i++) {
      try { nc = await connect({ servers: `127.0.0.1:${port}` }) } catch { await new Promise(resolve => setTimeout(resolve, 100)) }
    }
    if (nc == null) return []
    const responder = await connect({ servers: `127.0.0.1:${port}` })
    responder.subscribe('echo', { callback: (_err, msg) => { msg.respond(msg.data) } })
    await responder.flush()
    const data = new TextEncoder().encode(JSON.stringify(payload))
    const client = nc
    const one = async (): Promise<unknown> => await client.request('echo', data, { timeout: 5000 })
    await timeRequests(200, 8, one)
    const seq = await timeRequests(SEQ_N, 1, one)
    const par = await timeRequests(PAR_N, 64, one)
    await nc.close(); await responder.close()
    return [
      { what: 'NATS request/reply, 1 in flight', rps: seq.rps, p50: percentile(seq.lat, 50), p99: percentile(seq.lat, 99) },
      { what: 'NATS request/reply, 64 in flight', rps: par.rps, p50: percentile(par.lat, 50), p99: percentile(par.lat, 99) }
    ]
  } finally {
    server.kill()
  }
}

const rows: Row[] = []
rows.push(...await brokerRpc())
rows.push(...await natsRpc())
rows.push(await brokerSends('memory store', new MemoryStore()))
const dir = mkdtempSync(join(tmpdir(), 'agentmesh-bench-outbox-'))
try {
  const level = await openStore(dir)
  rows.push(await brokerSends('LevelDB, fsync', level))
  await level.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
rows.push(codec())
table(['what', 'per second', 'p50 ms', 'p99 ms'], rows.map(r => [r.what, fmt(r.rps), r.p50 != null ? fmt(r.p50, 2) : '', r.p99 != null ? fmt(r.p99, 2) : '']))
console.log('\nBaselines from docs/ENVIRONMENT.md (other runs): NATS request/reply 2,913 req/s sequential (p50 0.31 ms), 28,405 req/s with 64 in flight.')
process.exit(0)
