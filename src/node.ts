/**
 * The composition root: `createNode(options)` builds the five components and wires them.
 * Nothing else constructs them in production code.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { DEFAULT_ROLE } from '#platform/libp2p'
import { createLibp2pMetrics } from '#platform/libp2p-metrics'
import { openStore } from '#platform/storage'
import { raftLogOpener } from '#platform/raft-log'
import { watchVisibility } from '#platform/visibility'
import { createMeshLibp2p, NetworkManager, nextIncarnation } from './network/index.ts'
import type { Capabilities, MeshLibp2p, NodeEventDetail, NodeRole } from './network/index.ts'
import { MonitoringSystem } from './monitoring/index.ts'
import { MessageBroker } from './messaging/index.ts'
import { createDocReplicator, Libp2pDocTransport, type DocReplicator } from './consensus/crdt/index.ts'
import { ConsensusManager } from './consensus/index.ts'
import { DistributedAgentManager, builtinKinds, createLlmClient } from './agents/index.ts'
import type { AgentKind, LlmClient, NodeLeaseTiming } from './agents/index.ts'
import { systemRng } from './util/prng.ts'
import type { Store } from './storage/types.ts'
import { systemClock } from './util/clock.ts'
import type { Clock } from './util/clock.ts'
import { wireMonitoring } from './wiring/monitoring.ts'
import { prepareSecurity } from './wiring/security.ts'
import type { MeshSecurity, SecurityOptions } from './wiring/security.ts'
import { countAgentMoves, registerDefaultAlerts } from './wiring/alerts.ts'
import { registerDashboardProviders } from './wiring/dashboard.ts'
import type { MeshView } from './monitoring/index.ts'
import { componentLogger } from './util/logger.ts'
import { describeError, InvalidArgumentError } from './errors.ts'
import { VERSION } from './version.ts'

export interface CreateNodeOptions extends SecurityOptions {
  /** namespace: peers of other meshes ignore us (default 'agentmesh') */
  mesh?: string
  /** multiaddrs of relays (or any peers) to join through */
  bootstrap?: string[]
  /** 'memory' (default), a directory (Node, LevelDB) or a database name (browser, IndexedDB) */
  storage?: string
  capabilities?: Partial<Capabilities>
  raft?: { voter?: boolean }
  /** 'node' in Node, 'browser' in browsers; 'relay' serves circuit-relay reservations */
  role?: NodeRole
  /** Node: address to listen on and announce (default 127.0.0.1) */
  host?: string
  /** Node: WebSocket port (default 0: a free one); TCP takes a free port */
  port?: number
  /** keep loopback/private addresses dialable (default true; turn off on public networks) */
  localMesh?: boolean
  /** use this identity instead of the stored (or a new) one */
  privateKey?: PrivateKey
  /** agent kinds this peer can host (default: the built-in kinds) */
  agents?: AgentKind[]
  /** the clock every component reads (default systemClock; tests give peers skewed ones) */
  clock?: Clock
  /** the LLM client agents get (default: from AGENTMESH_LLM_URL / _MODEL / _KEY) */
  llm?: LlmClient
  /**
   * tests only: this peer's node lease timing instead of its runtime's (#platform/node-lease), e.g.
   * a browser tab's 10 s lease on a Node peer; no CLI flag sets it
   */
  nodeLease?: Partial<NodeLeaseTiming>
  monitoring?: {
    /** record spans (default true; the broker benchmark measures the cost) */
    tracing?: boolean
    /** export spans over OTLP/HTTP to this endpoint */
    otlpEndpoint?: string
  }
}

export interface MeshNode {
  readonly peerId: string
  readonly network: NetworkManager
  readonly monitoring: MonitoringSystem
  readonly broker: MessageBroker
  /** the replicated Yjs documents (CRDT half of the consensus layer) */
  readonly docs: DocReplicator
  readonly consensus: ConsensusManager
  readonly agents: DistributedAgentManager
  /** the whole mesh as this peer sees it: every peer's latest monitoring snapshot */
  readonly meshView: MeshView
  readonly libp2p: MeshLibp2p
  /** membership credentials and flood protection */
  readonly security: MeshSecurity
  readonly store: Store
  readonly options: Readonly<CreateNodeOptions>
  stop: () => Promise<void>
}

const IDENTITY_KEY = 'private-key'
/** peers remembered as failed, so their recovery can wake the outbox (beyond it, recoveries don't) */
const MAX_TRACKED_FAILED_PEERS = 1024
const MESH_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/

/** The peer's identity: kept in its storage so a restart with the same storage is the same peer. */
async function loadIdentity (store: Store): Promise<PrivateKey> {
  const identity = store.sub('identity/')
  const stored = await identity.get(IDENTITY_KEY)
  if (stored != null) return privateKeyFromProtobuf(stored)
  const key = await generateKeyPair('Ed25519')
  await identity.put(IDENTITY_KEY, privateKeyToProtobuf(key), { sync: true })
  return key
}

export async function createNode (options: CreateNodeOptions = {}): Promise<MeshNode> {
  const mesh = options.mesh ?? 'agentmesh'
  if (!MESH_NAME.test(mesh)) throw new InvalidArgumentError(`mesh name "${mesh}" must be 1-64 of [a-zA-Z0-9._-]`)
  const role = options.role ?? DEFAULT_ROLE
  const log = componentLogger('node')
  const store = await openStore(options.storage ?? 'memory')
  const stack: Array<() => Promise<void>> = [async () => { await store.close() }]
  const unwind = async (): Promise<void> => {
    for (const fn of stack.reverse()) {
      try { await fn() } catch (err) { log.error('stop step failed: %s', describeError(err).message) }
    }
  }
  try {
    const privateKey = options.privateKey ?? await loadIdentity(store)
    const clock = options.clock ?? systemClock
    const monitoring = new MonitoringSystem({
      peerId: peerIdFromPrivateKey(privateKey).toString(),
      clock,
      tracing: options.monitoring?.tracing,
      otlpEndpoint: options.monitoring?.otlpEndpoint
    })
    monitoring.start()
    stack.push(async () => { await monitoring.stop() })
    monitoring.registerHealthCheck('storage', async () => {
      try {
        await store.put('health/probe', new Uint8Array([1]), { sync: false })
        return { status: 'ok' }
      } catch (err) {
        return { status: 'down', detail: describeError(err).message }
      }
    }, { critical: true })
    const security = await prepareSecurity(options, {
      mesh, selfId: peerIdFromPrivateKey(privateKey).toString(), localMesh: options.localMesh ?? true, clock, telemetry: monitoring
    })
    const libp2pMetrics = createLibp2pMetrics()
    monitoring.addMetricsTextSource('libp2p', libp2pMetrics.text)
    const libp2p = await createMeshLibp2p({
      metrics: libp2pMetrics.metrics,
      privateKey,
      mesh,
      role,
      host: options.host,
      port: options.port,
      bootstrap: options.bootstrap,
      localMesh: options.localMesh,
      ...(security.pubsubScore !== undefined ? { pubsubScore: security.pubsubScore } : {})
    })
    stack.push(async () => { await libp2p.stop() })
    stack.push(security.install(libp2p))
    let agents: DistributedAgentManager | undefined
    const network = new NetworkManager({ libp2p, privateKey, telemetry: monitoring, clock }, {
      mesh,
      role,
      // kept with the identity: a restart with the clock set back still counts as a restart
      incarnation: await nextIncarnation(store.sub('network/'), clock),
      loadSource: () => agents?.host.load() ?? {},
      raft: role === 'browser' ? 'learner' : (options.raft?.voter === false ? 'learner' : 'voter'),
      capabilities: options.capabilities,
      bootstrap: options.bootstrap,
      version: VERSION
    })
    security.attach(network)
    await network.start()
    stack.push(async () => { await network.stop() })
    const wiring = wireMonitoring(monitoring, network, mesh, clock)
    stack.push(wiring.stop)

    const broker = new MessageBroker(
      { libp2p, peerId: network.peerId, telemetry: monitoring, store: store.sub('messaging/'), clock, rng: systemRng, privateKey, clockSkew: network },
      { mesh })
    await broker.start()
    stack.push(async () => { await broker.stop() })
    // durable messages waiting out a backoff grown during a partition go again once it heals, or
    // once a peer seen failed is back. Not on a suspect peer's recovery: a connection that drops
    // and comes back would end every backoff wait again and again, using up delivery attempts
    const retryPending = (): void => { broker.retryPendingNow() }
    const failedPeers = new Set<string>()
    const onFailed = (evt: CustomEvent<NodeEventDetail>): void => { if (failedPeers.size < MAX_TRACKED_FAILED_PEERS) failedPeers.add(evt.detail.peerId) }
    const onRecovered = (evt: CustomEvent<NodeEventDetail>): void => { if (failedPeers.delete(evt.detail.peerId)) retryPending() }
    network.addEventListener('network:healed', retryPending)
    // deliveries held while this peer's clock was the outlier go as soon as it agrees again
    network.addEventListener('network:clock-synced', retryPending)
    network.addEventListener('node:failed', onFailed)
    network.addEventListener('node:recovered', onRecovered)
    stack.push(async () => {
      network.removeEventListener('network:healed', retryPending)
      network.removeEventListener('network:clock-synced', retryPending)
      network.removeEventListener('node:failed', onFailed)
      network.removeEventListener('node:recovered', onRecovered)
    })

    const openLog = raftLogOpener(options.storage ?? 'memory')
    const consensus = new ConsensusManager(
      { libp2p, network, store, telemetry: monitoring, clock, rng: systemRng, gate: security.authority, ...(openLog !== undefined ? { openLog } : {}) },
      { voter: role !== 'browser' && options.raft?.voter !== false && security.authority.allows(network.peerId, 'voter'), joining: (options.bootstrap ?? []).length > 0 })
    await consensus.start()
    stack.push(async () => { await consensus.stop() })
    let voters: string[] = []
    network.setVoterSource(() => {
      // a stopped consensus (the node is shutting down) answers with the voters it last had
      try { voters = consensus.status().voters } catch {}
      return voters
    })

    const docs = createDocReplicator(
      { transport: new Libp2pDocTransport(libp2p), store: store.sub('crdt/'), telemetry: monitoring, clock, rng: systemRng, writeGate: security.docGate },
      { mesh })
    await docs.start()
    stack.push(async () => { await docs.stop() })

    const capabilities = network.localRecord().capabilities
    agents = new DistributedAgentManager(
      { network, broker, consensus, docs, llm: options.llm ?? createLlmClient(), telemetry: monitoring, clock, gate: security.authority },
      { kinds: options.agents ?? builtinKinds, capacity: { cpu: capabilities.cpu, memoryMb: capabilities.memoryMb }, ...(options.nodeLease != null ? { nodeLease: options.nodeLease } : {}) })
    agents.start()
    countAgentMoves(monitoring, agents)
    stack.push(async () => { await agents?.stop() })
    const unwatch = watchVisibility(hidden => {
      agents?.setHidden(hidden).catch(err => { log.error('handing agents off a hidden tab failed: %s', describeError(err).message) })
    })
    stack.push(async () => { unwatch() })
    for (const rule of docs.alertRules()) monitoring.addRule(rule)
    registerDefaultAlerts(monitoring, consensus, network)
    registerDashboardProviders(monitoring, consensus, agents)

    let stopped: Promise<void> | undefined
    return {
      peerId: libp2p.peerId.toString(),
      network,
      monitoring,
      broker,
      docs,
      consensus,
      agents,
      meshView: wiring.view,
      libp2p,
      security,
      store,
      options: { ...options, mesh, role },
      stop: async () => { stopped ??= unwind(); await stopped }
    }
  } catch (err) {
    await unwind()
    throw err
  }
}
