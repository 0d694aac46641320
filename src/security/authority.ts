/**
 * MembershipAuthority: who may vote, host agents and publish on control topics.
 *
 * Open mode (no admin key): everyone may do everything, exactly as a mesh without credentials.
 * Credentialed mode: a peer may act in a role only while the credential in its latest node record
 * (`ext.credential`) is signed by the admin key, names that peer and this mesh, lists the role and
 * has not expired. Signatures are checked once per credential text (asynchronously: WebCrypto is
 * async in browsers) and remembered; `allows` is synchronous and answers from what has been
 * verified, re-checking expiry every time. A credential not verified yet is not honoured yet.
 */
import type { PublicKey } from '@libp2p/interface'
import { UnauthorizedError, describeError } from '../errors.ts'
import { systemClock, type Clock } from '../util/clock.ts'
import { componentLogger, type Logger } from '../util/logger.ts'
import type { Counter, Telemetry } from '../monitoring/types.ts'
import { CREDENTIAL_EXT_KEY, MAX_VERIFIED_CREDENTIALS, REFUSAL_LOG_INTERVAL_MS } from './constants.ts'
import { checkClaims, verifyCredential } from './credential.ts'
import type { Credential, MeshRole } from './credential.ts'

/** the part of a node record the authority reads */
export interface AuthorityRecord {
  peerId: string
  ext: Record<string, unknown>
}

/**
 * what a gate is asked for: a role, or `member` (a verified, unexpired credential with any roles:
 * what KV proposals and linearizable reads forwarded by another peer need)
 */
export type GateRole = MeshRole | 'member'

/** what other components ask: may this peer act in this role now? */
export interface RoleGate {
  /** true in open mode; else only with a verified, unexpired credential listing the role */
  allows: (peerId: string, role: GateRole) => boolean
  /** records (rate-limited log line + metric) that `peerId` was refused `role` for `what` */
  refuse: (peerId: string, role: GateRole, what: string) => void
}

export interface MembershipAuthorityInit {
  mesh: string
  selfId: string
  /** the mesh admin public key; absent: open mode */
  adminKey?: PublicKey
  /** this peer's own credential text */
  credential?: string
  /** a member's latest record (the NetworkManager's view) */
  lookup: (peerId: string) => AuthorityRecord | undefined
  clock?: Clock
  telemetry?: Telemetry
}

type Verdict = { text: string, credential: Credential } | { text: string, error: string }

export class MembershipAuthority implements RoleGate {
  readonly mesh: string
  readonly selfId: string
  private readonly adminKey?: PublicKey
  private ownText: string | undefined
  private readonly lookup: (peerId: string) => AuthorityRecord | undefined
  private readonly clock: Clock
  private readonly log: Logger = componentLogger('security')
  private readonly verdicts = new Map<string, Verdict>()
  private readonly pending = new Map<string, Promise<Verdict>>()
  private readonly lastRefusalLog = new Map<string, number>()
  private readonly refusals?: Counter

  constructor (init: MembershipAuthorityInit) {
    this.mesh = init.mesh
    this.selfId = init.selfId
    this.adminKey = init.adminKey
    this.ownText = init.credential
    this.lookup = init.lookup
    this.clock = init.clock ?? systemClock
    this.refusals = init.telemetry?.metrics.counter('agentmesh_security_refusals_total', {
      help: 'actions refused to peers without a valid credential for them, by role',
      labelNames: ['role']
    })
  }

  /** open mode: no admin key, no checks */
  get open (): boolean {
    return this.adminKey === undefined
  }

  /** this peer's own credential text (what goes into its record) */
  get ownCredential (): string | undefined {
    return this.ownText
  }

  /**
   * checks this peer's own credential (at start, or when a new one is given): answers it, or
   * throws UnauthorizedError / InvalidMessageError saying why it is not valid here
   */
  async setOwnCredential (text: string | undefined): Promise<Credential | undefined> {
    this.ownText = text
    if (text === undefined || this.adminKey === undefined) return undefined
    const v = await this.verify(this.selfId, text)
    if ('error' in v) throw new UnauthorizedError(`this peer's credential is not valid here: ${v.error}`)
    return v.credential
  }

  allows (peerId: string, role: GateRole): boolean {
    if (this.adminKey === undefined) return true
    const credential = this.credentialOf(peerId)
    return credential !== undefined && (role === 'member' || credential.roles.includes(role))
  }

  /** the verified, unexpired credential `peerId` presents now (undefined in open mode or without one) */
  credentialOf (peerId: string): Credential | undefined {
    if (this.adminKey === undefined) return undefined
    const text = this.presented(peerId)
    if (text === undefined) return undefined
    const v = this.verdicts.get(peerId)
    if (v === undefined || v.text !== text) {
      void this.verify(peerId, text)
      return undefined
    }
    if ('error' in v) return undefined
    try {
      checkClaims(v.credential, { peerId, mesh: this.mesh, now: this.clock.now() })
      return v.credential
    } catch {
      return undefined
    }
  }

  /** like `allows`, but waits for the signature check of a credential not verified yet; throws UnauthorizedError */
  async check (peerId: string, role: GateRole): Promise<void> {
    if (this.adminKey === undefined) return
    const text = this.presented(peerId)
    if (text === undefined) throw new UnauthorizedError(`${peerId} presents no credential`)
    const v = await this.verify(peerId, text)
    if ('error' in v) throw new UnauthorizedError(`${peerId}'s credential is not valid: ${v.error}`)
    checkClaims(v.credential, { peerId, mesh: this.mesh, now: this.clock.now() })
    if (role !== 'member' && !v.credential.roles.includes(role)) throw new UnauthorizedError(`${peerId}'s credential does not grant ${role}`)
  }

  /** throws UnauthorizedError (and logs the refusal) unless `peerId` may act as `role` */
  assert (peerId: string, role: GateRole, what: string): void {
    if (this.allows(peerId, role)) return
    this.refuse(peerId, role, what)
    throw new UnauthorizedError(`${peerId} has no valid credential for ${role}: cannot ${what}`)
  }

  refuse (peerId: string, role: GateRole, what: string): void {
    this.refusals?.inc(1, { role })
    const key = `${peerId}\u0000${role}`
    const now = this.clock.monotonic()
    const last = this.lastRefusalLog.get(key)
    if (last !== undefined && now - last < REFUSAL_LOG_INTERVAL_MS) return
    if (this.lastRefusalLog.size >= MAX_VERIFIED_CREDENTIALS) this.lastRefusalLog.clear()
    this.lastRefusalLog.set(key, now)
    const v = this.verdicts.get(peerId)
    const why = this.presented(peerId) === undefined ? 'no credential' : v !== undefined && 'error' in v ? v.error : role === 'member' ? 'credential expired or not verified yet' : `credential lacks ${role} or expired`
    this.log.error('refused %s to %s (%s): %s', what, peerId, role, why)
  }

  private presented (peerId: string): string | undefined {
    if (peerId === this.selfId) return this.ownText
    const text = this.lookup(peerId)?.ext[CREDENTIAL_EXT_KEY]
    return typeof text === 'string' ? text : undefined
  }

  private async verify (peerId: string, text: string): Promise<Verdict> {
    const known = this.verdicts.get(peerId)
    if (known !== undefined && known.text === text) return known
    const key = `${peerId}\u0000${text}`
    const running = this.pending.get(key)
    if (running !== undefined) return await running
    const p = (async (): Promise<Verdict> => {
      try {
        const credential = await verifyCredential(text, this.adminKey!, { peerId, mesh: this.mesh, now: this.clock.now() })
        return { text, credential }
      } catch (err) {
        const { name, message } = describeError(err)
        this.log('credential of %s refused: %s: %s', peerId, name, message)
        return { text, error: `${name}: ${message}` }
      }
    })()
    this.pending.set(key, p)
    try {
      const v = await p
      if (this.verdicts.size >= MAX_VERIFIED_CREDENTIALS && !this.verdicts.has(peerId)) {
        this.verdicts.delete(this.verdicts.keys().next().value!)
      }
      this.verdicts.set(peerId, v)
      return v
    } finally {
      this.pending.delete(key)
    }
  }
}
