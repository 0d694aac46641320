/** A second tab for browser tests: joins the mesh given in the query and exposes window.mesh. */
import { createNode } from '../../src/node.ts'

const params = new URLSearchParams(location.search)
const relay = params.get('relay')
const mesh = params.get('mesh') ?? 'browser-test'
// storage=<name>: keep the peer's data in that IndexedDB database (survives a reload)
const storage = params.get('storage') ?? undefined
// meshKey=<admin public key>: a peer of a mesh that requires credentials (holding none)
const meshKey = params.get('meshKey') ?? undefined
createNode({ mesh, bootstrap: relay != null ? [relay] : [], storage, ...(meshKey !== undefined ? { meshKey } : {}) })
  .then(node => { (window as any).mesh = node })
  .catch(err => { (window as any).meshError = String(err?.stack ?? err) })
