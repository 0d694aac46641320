/**
 * Peers and baselines for bench/broker.ts: broker peers (with tracing on or off), bare libp2p peers
 * (a raw request/response stream with the broker's framing, raw gossipsub), and a NATS server on
 * 127.0.0.1 with its clients.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { connect } from 'nats'
import type { NatsConnection } from 'nats'
import { createMeshLibp2p } from '../src/network/index.ts'
import type { MeshLibp2p } from '../src/network/index.ts'
import { FrameDecoder, MessageBroker, encodeFrame } from '../src/messaging/index.ts'
import { MemoryStore } from '../src/storage/memory.ts'
import { systemClock } from '../src/util/clock.ts'
import { seededRng } from '../src/util/prng.ts'
import { MonitoringSystem } from '../src/monitoring/index.ts'
import type { Store } from '../src/storage/types.ts'
import type { Telemetry } from '../src/monitoring/types.ts'

export const MESH = 'bench-broker'

export interface BrokerPeer { libp2p: MeshLibp2p, broker: MessageBroker, monitoring: MonitoringSystem, id: string, stop: () => Promise<void> }

export async function libp2pPeer (privateKey?: Awaited<ReturnType<typeof generateKeyPair>>): Promise<MeshLibp2p> {
  return await createMeshLibp2p({ privateKey: privateKey ?? await generateKeyPair('Ed25519'), mesh: MESH, role: 'node', host: '127.0.0.1', port: 0 })
}

export async function brokerPeer (options: { tracing: boolean, store?: Store, sign?: boolean, telemetry?: Telemetry }): Promise<BrokerPeer> {
  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await libp2pPeer(privateKey)
  const id = libp2p.peerId.toString()
  const monitoring = new MonitoringSystem({ peerId: id, tracing: options.tracing, eventLoop: false })
  const broker = new MessageBroker({ libp2p, peerId: id, telemetry: options.telemetry ?? monitoring, store: options.store ?? new MemoryStore(), clock: systemClock, rng: seededRng(1), privateKey },
    { mesh: MESH, signEnvelopes: options.sign === true })
  await broker.start()
  return { libp2p, broker, monitoring, id, stop: async () => { await broker.stop(); await libp2p.stop(); await monitoring.stop() } }
}

export async function connectPeers (from: MeshLibp2p, to: MeshLibp2p): Promise<void> {
  await from.dial(to.getMultiaddrs()[0])
}

/** resolves once `from` sees `to` subscribed to `topic` with its gossipsub stream open */
export async function gossipReady (from: MeshLibp2p, to: MeshLibp2p, topic: string): Promise<void> {
  const deadline = Date.now() + 20_000
  const toId = to.peerId.toString()
  while (!(from.services.pubsub.getSubscribers(topic).some(p => p.toString() === toId) &&
    from.getConnections(to.peerId).some(c => c.streams.some(s => s.direction === 'outbound' && s.protocol?.startsWith('/meshsub/') === true)))) {
    if (Date.now() > deadline) throw new Error(`gossip to ${toId} on ${topic} not ready`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

const RAW_PROTOCOL = '/bench/raw-rpc/1.0.0'

/** a bare request/response stream: frames of `4-byte id | payload`, echoed by the server */
export async function rawRpc (client: MeshLibp2p, server: MeshLibp2p): Promise<{ request: (payload: Uint8Array) => Promise<Uint8Array>, close: () => void }> {
  await server.handle(RAW_PROTOCOL, (stream) => {
    void (async () => {
      const decoder = new FrameDecoder()
      for await (const chunk of stream) {
        for (const frame of decoder.push(chunk)) {
          if (!stream.send(encodeFrame(frame))) await stream.onDrain()
        }
      }
    })().catch(() => {})
  })
  const stream = await client.dialProtocol(server.peerId, RAW_PROTOCOL)
  const waiting = new Map<number, (payload: Uint8Array) => void>()
  void (async () => {
    const decoder = new FrameDecoder()
    for await (const chunk of stream) {
      for (const frame of decoder.push(chunk)) {
        const id = new DataView(frame.buffer, frame.byteOffset).getUint32(0)
        waiting.get(id)?.(frame.subarray(4))
        waiting.delete(id)
      }
    }
  })().catch(() => {})
  let next = 0
  return {
    request: async (payload) => await new Promise<Uint8Array>((resolve, reject) => {
      const id = next++ >>> 0
      const body = new Uint8Array(4 + payload.length)
      new DataView(body.buffer).setUint32(0, id)
      body.set(payload, 4)
      // like the broker's requests, never wait forever
      const timer = setTimeout(() => { waiting.delete(id); reject(new Error(`raw request ${id}: no answer within 10 s`)) }, 10_000)
      waiting.set(id, (reply) => { clearTimeout(timer); resolve(reply) })
      try {
        if (!stream.send(encodeFrame(body))) stream.onDrain().catch(reject)
      } catch (err) { reject(err) }
    }),
    close: () => { stream.abort(new Error('done')) }
  }
}

async function freePort (): Promise<number> {
  return await new Promise(resolve => {
    const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as any).port; s.close(() => resolve(p)) })
  })
}

/** a nats-server on 127.0.0.1 (undefined when it is not installed) */
export async function natsServer (): Promise<{ connect: () => Promise<NatsConnection>, stop: () => void } | undefined> {
  if (spawnSync('which', ['nats-server']).status !== 0) return undefined
  const port = await freePort()
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' })
  const open = async (): Promise<NatsConnection> => await connect({ servers: `127.0.0.1:${port}` })
  for (let i = 0; i < 50; i++) {
    try { const nc = await open(); await nc.close(); return { connect: open, stop: () => { server.kill() } } } catch { await new Promise(resolve => setTimeout(resolve, 100)) }
  }
  server.kill()
  return undefined
}
