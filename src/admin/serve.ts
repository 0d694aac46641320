/** A peer with its HTTP admin API: what `agentmesh relay|node` and `startRelay()` run. */
import { createNode, type CreateNodeOptions, type MeshNode } from '../node.ts'
import { createAdminServer } from '../http/index.ts'
import { adminRoutes } from './index.ts'
import type { AdminExtras } from './index.ts'

export interface ServedPeer {
  node: MeshNode
  /** the admin API's base URL */
  http: string
  stop: () => Promise<void>
}

export async function servePeer (options: CreateNodeOptions, http: { host: string, port: number }, extras: AdminExtras = {}): Promise<ServedPeer> {
  const node = await createNode(options)
  const server = createAdminServer(adminRoutes(node, extras))
  let url: string
  try {
    url = await server.listen(http)
  } catch (err) {
    await node.stop()
    throw err
  }
  let stopped: Promise<void> | undefined
  return {
    node,
    http: url,
    stop: async () => {
      stopped ??= (async () => { await server.close(); await node.stop() })()
      await stopped
    }
  }
}
