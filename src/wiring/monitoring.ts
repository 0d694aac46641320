/**
 * Wires a peer's MonitoringSystem to the mesh: the periodic snapshot is published on the
 * monitoring topic (validated before gossipsub forwards it), received snapshots are merged into a
 * MeshView (what any tab's dashboard reads), and the network reports into the default alert rules.
 */
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import { MeshView, nodeFailedRule, decodeSnapshot, type MonitoringSystem } from '../monitoring/index.ts'
import type { NetworkManager } from '../network/index.ts'
import { linksOf } from '../network/index.ts'
import { componentLogger } from '../util/logger.ts'
import { describeError } from '../errors.ts'
import type { Clock } from '../util/clock.ts'

export const monitoringTopic = (mesh: string): string => `agentmesh/${mesh}/v1/monitoring`

/** how often each peer publishes its snapshot */
export const SNAPSHOT_INTERVAL_MS = 2000
/** a peer's snapshot is dropped from the view when it has not been refreshed for this long */
export const SNAPSHOT_TTL_MS = 15_000

export interface MonitoringWiring {
  view: MeshView
  stop: () => Promise<void>
}

export function wireMonitoring (monitoring: MonitoringSystem, network: NetworkManager, mesh: string, clock: Clock): MonitoringWiring {
  const log = componentLogger('monitoring')
  const pubsub = network.libp2p.services.pubsub
  const topic = monitoringTopic(mesh)
  const view = new MeshView({ clock, ttlMs: SNAPSHOT_TTL_MS })

  monitoring.registerSnapshotProvider('node', () => {
    const r = network.localRecord()
    return { role: r.role, raft: r.raft, load: r.load, capabilities: r.capabilities, hidden: r.hidden }
  })
  monitoring.registerSnapshotProvider('links', () => linksOf(network.libp2p.getConnections()))
  monitoring.registerSnapshotProvider('partition', () => {
    const p = network.partitionStatus()
    return { partitioned: p.partitioned, reachable: p.reachable, majority: p.majority }
  })
  monitoring.addRule(nodeFailedRule({ failed: () => network.members().filter(m => m.status === 'failed' && m.reason !== 'left the mesh').length }))

  pubsub.topicValidators.set(topic, (_peer: unknown, msg: Message) => {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    try {
      const snap = decodeSnapshot(msg.data)
      return snap.peerId === msg.from.toString() ? TopicValidatorResult.Accept : TopicValidatorResult.Reject
    } catch (err) {
      log('rejected snapshot from %s: %s', msg.from.toString(), describeError(err).message)
      return TopicValidatorResult.Reject
    }
  })
  const onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.topic !== topic || msg.type !== 'signed') return
    try {
      view.ingest(msg.data, { from: msg.from.toString() })
    } catch (err) {
      log.error('bad snapshot from %s: %s', msg.from.toString(), describeError(err).message)
    }
  }
  pubsub.subscribe(topic)
  pubsub.addEventListener('message', onMessage)
  view.start()
  monitoring.startPublishing(async (bytes) => {
    view.ingest(bytes, { from: network.peerId })
    await pubsub.publish(topic, bytes)
  }, SNAPSHOT_INTERVAL_MS)

  return {
    view,
    stop: async () => {
      monitoring.stopPublishing()
      view.stop()
      pubsub.removeEventListener('message', onMessage)
      pubsub.topicValidators.delete(topic)
      pubsub.unsubscribe(topic)
    }
  }
}
