/** A second tab for browser tests: joins the mesh given in the query and exposes window.mesh. */
import * as Y from 'yjs'
import { createNode } from '../../src/node.ts'
import { privateKeyFromText } from '../../src/security/index.ts'

const params = new URLSearchParams(location.search)
const relay = params.get('relay')
const mesh = params.get('mesh') ?? 'browser-test'
// storage=<name>: keep the peer's data in that IndexedDB database (survives a reload)
const storage = params.get('storage') ?? undefined
// meshKey=<admin public key>, credential=<token>, key=<private key text>: a peer of a mesh that
// requires credentials, with the identity its token was issued to
const meshKey = params.get('meshKey') ?? undefined
const credential = params.get('credential') ?? undefined
const key = params.get('key') ?? undefined
// this tab's Yjs, for a test page that inspects this tab's docs (objects of another page's Yjs do not mix)
;(window as any).Y = Y
createNode({
  mesh,
  bootstrap: relay != null ? [relay] : [],
  storage,
  ...(meshKey !== undefined ? { meshKey } : {}),
  ...(credential !== undefined ? { credential } : {}),
  ...(key !== undefined ? { privateKey: privateKeyFromText(key) } : {})
})
  .then(node => { (window as any).mesh = node })
  .catch(err => { (window as any).meshError = String(err?.stack ?? err) })
