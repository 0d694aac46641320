/** The HTTP admin API of a Node peer (docs/API.md section 3): every component contributes routes. */
import type { Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'
import { networkRoutes } from './network-routes.ts'
import { monitoringRoutes } from './monitoring-routes.ts'
import { messagingRoutes } from './messaging-routes.ts'
import { consensusRoutes } from './consensus-routes.ts'
import { agentsRoutes } from './agents-routes.ts'

export function adminRoutes (node: MeshNode): Route[] {
  return [...networkRoutes(node), ...monitoringRoutes(node), ...messagingRoutes(node), ...consensusRoutes(node), ...agentsRoutes(node)]
}
