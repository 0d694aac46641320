/**
 * Issuing credentials on request (a relay's `POST /credentials`, for browser tabs): the request is
 * validated, the lifetime capped, the roles default to host + publisher (tabs are not voters).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { InvalidArgumentError } from '../errors.ts'
import { DEFAULT_ISSUED_CREDENTIAL_TTL_MS, MAX_ISSUED_CREDENTIAL_TTL_MS } from './constants.ts'
import { MESH_ROLES, signCredential } from './credential.ts'
import type { Credential, MeshRole } from './credential.ts'
import { decodeCredential } from './credential.ts'

export interface IssueCredentialRequest {
  peerId: string
  roles?: MeshRole[]
  /** lifetime in ms (default DEFAULT_ISSUED_CREDENTIAL_TTL_MS, at most MAX_ISSUED_CREDENTIAL_TTL_MS) */
  ttlMs?: number
}

export async function issueCredential (adminKey: PrivateKey, mesh: string, req: unknown, now: number): Promise<{ credential: string, claims: Credential }> {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new InvalidArgumentError('body must be an object { peerId, roles?, ttlMs? }')
  const r = req as Record<string, unknown>
  if (typeof r.peerId !== 'string' || r.peerId.length === 0 || r.peerId.length > 128) throw new InvalidArgumentError('peerId must be a peer id')
  try { peerIdFromString(r.peerId) } catch (err) { throw new InvalidArgumentError(`peerId ${JSON.stringify(r.peerId.slice(0, 64))} is not a peer id`, { cause: err }) }
  let roles: MeshRole[] = ['host', 'publisher']
  if (r.roles !== undefined) {
    if (!Array.isArray(r.roles) || r.roles.length > MESH_ROLES.length || !r.roles.every(x => MESH_ROLES.includes(x as MeshRole))) {
      throw new InvalidArgumentError(`roles must be a list of ${MESH_ROLES.join(', ')}`)
    }
    roles = r.roles as MeshRole[]
  }
  let ttlMs = DEFAULT_ISSUED_CREDENTIAL_TTL_MS
  if (r.ttlMs !== undefined) {
    if (typeof r.ttlMs !== 'number' || !Number.isSafeInteger(r.ttlMs) || r.ttlMs <= 0 || r.ttlMs > MAX_ISSUED_CREDENTIAL_TTL_MS) {
      throw new InvalidArgumentError(`ttlMs must be an integer in 1..${MAX_ISSUED_CREDENTIAL_TTL_MS}`)
    }
    ttlMs = r.ttlMs
  }
  const credential = await signCredential(adminKey, { mesh, peerId: r.peerId, roles, expiry: now + ttlMs }, now)
  return { credential, claims: decodeCredential(credential).credential }
}
