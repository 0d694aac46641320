/** The HTTP admin API of a Node peer (docs/API.md section 3): every component contributes routes. */
import type { Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'
import { networkRoutes } from './network-routes.ts'
import { monitoringRoutes } from './monitoring-routes.ts'
import { messagingRoutes } from './messaging-routes.ts'
import { consensusRoutes } from './consensus-routes.ts'
import { agentsRoutes } from './agents-routes.ts'
import { securityRoutes } from './security-routes.ts'
import type { CredentialIssuer } from './security-routes.ts'

export type { CredentialIssuer }

export interface AdminExtras {
  /** issue credentials at POST /credentials (a relay holding the mesh admin key) */
  credentialIssuer?: CredentialIssuer
}

export function adminRoutes (node: MeshNode, extras: AdminExtras = {}): Route[] {
  return [...networkRoutes(node), ...monitoringRoutes(node), ...messagingRoutes(node), ...consensusRoutes(node), ...agentsRoutes(node), ...securityRoutes(node, extras.credentialIssuer)]
}
