/** Admin API routes of the NetworkManager: /node, /nodes, /topology (docs/API.md section 3). */
import { route, type Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'

export function networkRoutes (node: MeshNode): Route[] {
  const network = node.network
  return [
    route('GET', '/node', () => {
      const r = network.localRecord()
      return { json: { peerId: node.peerId, multiaddrs: node.libp2p.getMultiaddrs().map(a => a.toString()), capabilities: r.capabilities, load: r.load, role: r.role, raft: r.raft, version: r.version } }
    }),
    route('GET', '/nodes', () => ({
      json: network.members().map(m => ({
        peerId: m.peerId,
        status: m.status,
        role: m.record.role,
        raft: m.record.raft,
        capabilities: m.record.capabilities,
        load: m.record.load,
        addrs: m.record.addrs,
        // lastSeen as wall-clock time: the record's send time, which the peer stamped
        lastSeen: new Date(m.record.ts).toISOString(),
        ...(m.reason != null ? { reason: m.reason } : {})
      }))
    })),
    route('GET', '/topology', () => ({ json: network.getTopology() }))
  ]
}
