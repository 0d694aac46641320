/** Broker test peers: real libp2p nodes on 127.0.0.1 with a broker each, and telemetry that counts. */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshLibp2p } from '../../src/network/index.ts'
import { MessageBroker } from '../../src/messaging/broker.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { systemClock } from '../../src/util/clock.ts'
import { seededRng } from '../../src/util/prng.ts'
import type { MeshLibp2p } from '../../src/network/index.ts'
import type { Telemetry } from '../../src/monitoring/types.ts'
import type { BrokerLibp2p, BrokerPubsub, BrokerPubsubMessage, MessageBrokerInit } from '../../src/messaging/broker-types.ts'
import type { Store } from '../../src/storage/types.ts'
import type { ComponentLogger, Logger } from '../../src/util/logger.ts'

/** a ComponentLogger that keeps every line it is given (`<level> <component>: <text>`), for tests to assert on */
export function captureLogs (): ComponentLogger & { lines: string[] } {
  const lines: string[] = []
  const format = (f: unknown, args: unknown[]): string => {
    let i = 0
    return String(f).replace(/%[sdoOjepabkt]/g, () => String(args[i++]))
  }
  const make = (component: string): Logger => {
    const log = ((f: unknown, ...args: unknown[]) => { lines.push(`debug ${component}: ${format(f, args)}`) }) as Logger
    log.error = (f: unknown, ...args: unknown[]) => { lines.push(`error ${component}: ${format(f, args)}`) }
    log.trace = (f: unknown, ...args: unknown[]) => { lines.push(`trace ${component}: ${format(f, args)}`) }
    log.enabled = true
    log.newScope = (name: string) => make(`${component}:${name}`)
    return log
  }
  return { lines, forComponent: make }
}

/** counts what the broker reports, so tests can see drops */
export function testTelemetry (): Telemetry & { counts: Map<string, number> } {
  const counts = new Map<string, number>()
  const counter = (name: string) => ({ inc: (v = 1, labels?: Record<string, unknown>) => { const k = `${name}${JSON.stringify(labels ?? {})}`; counts.set(k, (counts.get(k) ?? 0) + v) } })
  return {
    counts,
    metrics: {
      counter,
      gauge: (name) => ({ set: () => {}, inc: counter(name).inc, dec: () => {} }),
      histogram: () => ({ observe: () => {}, startTimer: () => () => 0 })
    },
    startSpan: () => ({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceparent: () => `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`, setAttribute: () => {}, recordError: () => {}, end: () => {} }),
    registerHealthCheck: () => {}
  }
}

/** gossipsub as the broker sees it, minus the publications `drop` picks (simulated loss) */
export function lossyPubsub (pubsub: BrokerPubsub, drop: (msg: BrokerPubsubMessage) => boolean): BrokerPubsub {
  const wrapped = new Map<unknown, (evt: CustomEvent<BrokerPubsubMessage>) => void>()
  return {
    topicValidators: pubsub.topicValidators,
    subscribe: (t) => { pubsub.subscribe(t) },
    unsubscribe: (t) => { pubsub.unsubscribe(t) },
    publish: async (t, d) => await pubsub.publish(t, d),
    addEventListener: (type, listener) => {
      const w = (evt: CustomEvent<BrokerPubsubMessage>): void => { if (!drop(evt.detail)) listener(evt) }
      wrapped.set(listener, w)
      pubsub.addEventListener(type, w)
    },
    removeEventListener: (type, listener) => { pubsub.removeEventListener(type, wrapped.get(listener) ?? listener) }
  }
}

export interface Peer { libp2p: MeshLibp2p, broker: MessageBroker, store: Store, id: string, dials: () => number, counts: Map<string, number> }

export async function startPeer (store: Store = new MemoryStore(), seed = 1, key?: Awaited<ReturnType<typeof generateKeyPair>>, signEnvelopes = true, maxAttempts = 20,
  dropPublication?: (msg: BrokerPubsubMessage) => boolean, extra: { init?: MessageBrokerInit, telemetry?: Telemetry, logger?: ComponentLogger, dialFault?: (dial: number) => Error | undefined } = {}): Promise<Peer> {
  const privateKey = key ?? await generateKeyPair('Ed25519')
  const libp2p = await createMeshLibp2p({ privateKey, mesh: 'msgtest', role: 'node', host: '127.0.0.1', port: 0 })
  // the real node satisfies the broker's narrow components (checked by the compiler)
  const direct: BrokerLibp2p = libp2p
  let dials = 0
  const counted: BrokerLibp2p = {
    handle: direct.handle.bind(libp2p),
    unhandle: direct.unhandle.bind(libp2p),
    dialProtocol: async (peer, protocol, options) => {
      dials++
      const fault = extra.dialFault?.(dials)
      if (fault != null) throw fault
      return await direct.dialProtocol(peer, protocol, options)
    },
    services: { pubsub: dropPublication == null ? direct.services.pubsub : lossyPubsub(direct.services.pubsub, dropPublication) }
  }
  const id = libp2p.peerId.toString()
  const counting = testTelemetry()
  const telemetry = extra.telemetry ?? counting
  const broker = new MessageBroker({ libp2p: counted, peerId: id, telemetry, store, clock: systemClock, rng: seededRng(seed), privateKey, logger: extra.logger },
    { mesh: 'msgtest', signEnvelopes, deliveryRetry: { initialDelayMs: 20, maxDelayMs: 200, maxAttempts }, ackTimeoutMs: 1000, ...extra.init })
  await broker.start()
  return { libp2p, broker, store, id, dials: () => dials, counts: counting.counts }
}

export async function waitFor (pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}


/** true once `from` has its gossipsub stream open towards `to` (publications before that are lost) */
export function gossipLinked (from: Peer, to: Peer): boolean {
  return from.libp2p.getConnections(to.libp2p.peerId).some(c => c.streams.some(s => s.direction === 'outbound' && s.protocol?.startsWith('/meshsub/') === true))
}
