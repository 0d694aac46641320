/**
 * Wires membership credentials and flood protection into a node (called by createNode only):
 * parses the mesh admin key, checks this peer's own credential, builds the authority (records
 * looked up in the NetworkManager's membership) and the flood guard, and installs the gossipsub
 * gate and the stream guard on the libp2p node before the components register their handlers.
 */
import type { PublicKey } from '@libp2p/interface'
import { InvalidArgumentError } from '../errors.ts'
import type { Clock } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import type { Telemetry } from '../monitoring/types.ts'
import type { MeshLibp2p, NetworkManager, NodeEventDetail } from '../network/index.ts'
import { agentConstants } from '../agents/index.ts'
import {
  CREDENTIAL_EXT_KEY, FloodGuard, MembershipAuthority, agentDocRoles, docWriteGate, guardStreams, installGossipGate, publicKeyFromText
} from '../security/index.ts'
import type { Credential, DocRoleGate, FloodLimits } from '../security/index.ts'

export interface SecurityOptions {
  /** the mesh admin public key (base64 text or a key): peers need credentials signed by it; absent: open mode */
  meshKey?: string | PublicKey
  /** this peer's credential (from `agentmesh credential` or a relay's POST /credentials) */
  credential?: string
  /** per-peer rate limits, or false to turn flood protection off */
  flood?: Partial<FloodLimits> | false
}

export interface MeshSecurity {
  /** who may vote, host agents, publish on control topics */
  readonly authority: MembershipAuthority
  /** who may change which replicated doc: agent state docs need `host`, others `publisher` */
  readonly docGate: DocRoleGate
  /** per-peer rate limits and gossipsub penalties; undefined when turned off */
  readonly guard?: FloodGuard
  /** this peer's own verified credential (undefined in open mode or without one) */
  readonly credential?: Credential
}

export interface PreparedSecurity extends MeshSecurity {
  /** gossipsub score options for createMeshLibp2p */
  pubsubScore?: ReturnType<FloodGuard['gossipScoreOptions']>
  /** installs the gossip gate and the stream guard; answers the undo */
  install: (libp2p: MeshLibp2p) => () => Promise<void>
  /**
   * points the authority at the membership, puts this peer's credential in its record, and has
   * every credential checked as soon as a record shows it (not first when some peer acts on it);
   * the listeners go with install's undo
   */
  attach: (network: NetworkManager) => void
}

export async function prepareSecurity (options: SecurityOptions, ctx: { mesh: string, selfId: string, localMesh: boolean, clock: Clock, telemetry?: Telemetry }): Promise<PreparedSecurity> {
  const log = componentLogger('security')
  let adminKey: PublicKey | undefined
  if (options.meshKey != null) adminKey = typeof options.meshKey === 'string' ? publicKeyFromText(options.meshKey) : options.meshKey
  if (options.credential != null && adminKey === undefined) throw new InvalidArgumentError('a credential was given but no mesh key (meshKey) to check it against')
  let network: NetworkManager | undefined
  let detach = (): void => {}
  const authority = new MembershipAuthority({
    mesh: ctx.mesh,
    selfId: ctx.selfId,
    ...(adminKey !== undefined ? { adminKey } : {}),
    lookup: (peerId) => network?.member(peerId)?.record,
    clock: ctx.clock,
    ...(ctx.telemetry !== undefined ? { telemetry: ctx.telemetry } : {})
  })
  const credential = await authority.setOwnCredential(options.credential)
  if (adminKey !== undefined) {
    log('credentialed mesh: this peer holds %s', credential === undefined ? 'no credential (it may read, not vote, host or publish on control topics)' : `roles ${credential.roles.join(', ')} until ${new Date(credential.expiry).toISOString()}`)
  }
  const guard = options.flood === false ? undefined : new FloodGuard({ limits: options.flood ?? {}, clock: ctx.clock, ...(ctx.telemetry !== undefined ? { telemetry: ctx.telemetry } : {}) })
  return {
    authority,
    docGate: docWriteGate(authority, { roleFor: agentDocRoles(agentConstants.STATE_DOC_PREFIX) }),
    ...(guard !== undefined ? { guard, pubsubScore: guard.gossipScoreOptions(ctx.localMesh) } : {}),
    ...(credential !== undefined ? { credential } : {}),
    install: (libp2p) => {
      const ungate = installGossipGate(libp2p.services.pubsub, { mesh: ctx.mesh, authority, ...(guard !== undefined ? { guard } : {}) })
      const unguard = guard !== undefined ? guardStreams(libp2p, guard) : () => {}
      return async () => { unguard(); ungate(); detach() }
    },
    attach: (n) => {
      network = n
      if (options.credential != null) n.setExtension(CREDENTIAL_EXT_KEY, options.credential)
      if (adminKey === undefined) return
      // the first proposal, sync or append a new member sends then finds its credential verified
      const verifyEarly = (evt: CustomEvent<NodeEventDetail>): void => { authority.credentialOf(evt.detail.peerId) }
      n.addEventListener('node:joined', verifyEarly)
      n.addEventListener('node:updated', verifyEarly)
      detach = () => {
        n.removeEventListener('node:joined', verifyEarly)
        n.removeEventListener('node:updated', verifyEarly)
      }
    }
  }
}
