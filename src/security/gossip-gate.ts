/**
 * The gossipsub side of credentials and flood protection. gossipsub looks a topic's validator up
 * in `pubsub.topicValidators` for every message it receives; the gate replaces that map with one
 * whose lookups wrap whatever validator a component registered for one of our topics:
 *
 * - every message on `agentmesh/<mesh>/...`: the author's publish rate (excess: Ignore + penalty);
 * - control topics (`agentmesh/<mesh>/v1/*` except the nodes and discovery topics, which a peer
 *   without credential needs to be seen, and the user topics `v1/t/*`): the author must hold a
 *   `publisher` credential, else the message is dropped (Ignore: not delivered, not forwarded;
 *   a reader that publishes by default, e.g. its monitoring snapshot, is not graylisted for it);
 * - a component's validator answering Reject: a penalty on the peer that sent it to us.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message, TopicValidatorFn } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { MembershipAuthority } from './authority.ts'
import type { FloodGuard } from './flood.ts'

export function isControlTopic (mesh: string, topic: string): boolean {
  const prefix = `agentmesh/${mesh}/v1/`
  if (!topic.startsWith(prefix)) return false
  const rest = topic.slice(prefix.length)
  return rest !== 'nodes' && rest !== 'discovery' && !rest.startsWith('t/')
}

export interface GossipGateInit {
  mesh: string
  authority?: MembershipAuthority
  guard?: FloodGuard
}

export interface GossipPubsub {
  topicValidators: Map<string, TopicValidatorFn>
}

class GatedValidators extends Map<string, TopicValidatorFn> {
  constructor (entries: Iterable<[string, TopicValidatorFn]>, private readonly gate: GossipGateInit) {
    super(entries)
  }

  override get (topic: string): TopicValidatorFn | undefined {
    const inner = super.get(topic)
    if (!topic.startsWith(`agentmesh/${this.gate.mesh}/`)) return inner
    return async (peer, msg) => await gateMessage(this.gate, topic, inner, peer, msg)
  }
}

async function gateMessage (gate: GossipGateInit, topic: string, inner: TopicValidatorFn | undefined, peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
  const author = msg.type === 'signed' ? msg.from.toString() : undefined
  try {
    gate.guard?.admitPublish(author ?? peer.toString(), topic)
  } catch {
    return TopicValidatorResult.Ignore
  }
  const authority = gate.authority
  if (authority !== undefined && !authority.open && isControlTopic(gate.mesh, topic)) {
    if (author === undefined) return TopicValidatorResult.Reject
    try {
      await authority.check(author, 'publisher')
    } catch {
      authority.refuse(author, 'publisher', `publish on ${topic}`)
      return TopicValidatorResult.Ignore
    }
  }
  const result = inner === undefined ? TopicValidatorResult.Accept : await inner(peer, msg)
  if (result === TopicValidatorResult.Reject) gate.guard?.reportInvalid(peer.toString(), topic)
  return result
}

/** puts the gate in front of every validator of our topics; answers a function that takes it out */
export function installGossipGate (pubsub: GossipPubsub, init: GossipGateInit): () => void {
  const original = pubsub.topicValidators
  const gated = new GatedValidators(original, init)
  ;(pubsub as { topicValidators: Map<string, TopicValidatorFn> }).topicValidators = gated
  return () => {
    if (pubsub.topicValidators !== gated) return
    ;(pubsub as { topicValidators: Map<string, TopicValidatorFn> }).topicValidators = new Map(gated)
  }
}
