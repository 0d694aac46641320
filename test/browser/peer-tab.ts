/** A second tab for browser tests: joins the mesh given in the query and exposes window.mesh. */
import { createNode } from '../../src/node.ts'

const params = new URLSearchParams(location.search)
const relay = params.get('relay')
const mesh = params.get('mesh') ?? 'browser-test'
createNode({ mesh, bootstrap: relay != null ? [relay] : [] })
  .then(node => { (window as any).mesh = node })
  .catch(err => { (window as any).meshError = String(err?.stack ?? err) })
