/**
 * `POST /credentials` on a relay started with the mesh admin key: issues a short-lived credential
 * for a peer id (a browser tab passes it to createNode). Callers authenticate with
 * `Authorization: Bearer <secret>`; without an issuer configured the route answers 404.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { route, type Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'
import { NotFoundError, UnauthorizedError } from '../errors.ts'
import { issueCredential } from '../security/index.ts'
import { systemClock } from '../util/clock.ts'

export interface CredentialIssuer {
  adminKey: PrivateKey
  /** the bearer secret callers must present */
  secret: string
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export function securityRoutes (node: MeshNode, issuer?: CredentialIssuer): Route[] {
  const expected = issuer !== undefined ? digest(`Bearer ${issuer.secret}`) : undefined
  return [
    route('POST', '/credentials', async (req) => {
      if (issuer === undefined || expected === undefined) throw new NotFoundError('this peer issues no credentials (start the relay with --admin-key and AGENTMESH_ADMIN_SECRET)')
      const auth = req.headers.authorization
      if (typeof auth !== 'string' || !timingSafeEqual(digest(auth), expected)) throw new UnauthorizedError('POST /credentials needs "Authorization: Bearer <admin secret>"')
      const body = await req.json()
      const mesh = node.options.mesh ?? 'agentmesh'
      const { credential, claims } = await issueCredential(issuer.adminKey, mesh, body, systemClock.now())
      return { status: 201, json: { credential, ...claims } }
    })
  ]
}
