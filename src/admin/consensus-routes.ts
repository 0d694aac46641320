/** Admin API routes of the ConsensusManager: /consensus, /kv/*key, /docs/:id (docs/API.md section 3). */
import { route, v, type Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'
import { InvalidArgumentError, NotFoundError } from '../errors.ts'

const putBody = v.object({ value: v.json(), expectRevision: v.optional(v.integer({ min: 0 })) })
const docPutBody = v.object({ value: v.json() })
/** shared documents reachable over HTTP: no '/', so no agent's state doc (`agent/<id>`) */
const DOC_ID = /^[a-zA-Z0-9._-]{1,128}$/
const MAX_DOC_KEY_CHARS = 256
/** the top-level Y.Map of a shared document that the HTTP routes read and write */
export const DOC_MAP = 'm'

function checkDocId (id: string): string {
  if (!DOC_ID.test(id)) throw new InvalidArgumentError(`document id "${id.slice(0, 140)}" must be 1-128 of [a-zA-Z0-9._-]`)
  return id
}

export function consensusRoutes (node: MeshNode): Route[] {
  const consensus = node.consensus
  return [
    route('GET', '/consensus', () => ({ json: consensus.status() })),
    // The KV routes do not hand `req.signal` to the call. The server answers an aborted request
    // (disconnect, close, its own deadline) without waiting for the handler, and the call still ends
    // at its outcome or its own deadline (DEFAULT_OPERATION_TIMEOUT_MS); a write proposed cannot be
    // withdrawn anyway. What that saves: the request's AbortSignal and a listener on it per call
    // (src/http/server.ts, RequestAbort).
    route('GET', '/kv/*key', async (req) => {
      const kv = await consensus.kv.get(req.params.key)
      if (kv === undefined) throw new NotFoundError(`key ${JSON.stringify(req.params.key)} is absent`)
      return { json: { value: kv.value, revision: kv.revision } }
    }),
    route('PUT', '/kv/*key', async (req) => {
      const body = await req.json(putBody)
      const r = await consensus.kv.put(req.params.key, body.value, body.expectRevision !== undefined ? { expectRevision: body.expectRevision } : {})
      return { json: r }
    }),
    route('DELETE', '/kv/*key', async (req) => {
      return { json: await consensus.kv.delete(req.params.key) }
    }),
    // shared CRDT documents (replicateState): writable on any side of a partition, merged on heal
    // read-only: answers from the copy this peer holds and never opens, creates or persists one
    // (a GET that did so made every peer it reached a holder of whatever id it was asked for)
    route('GET', '/docs/:id', (req) => {
      const id = checkDocId(req.params.id)
      let doc: ReturnType<typeof node.docs.getDoc>
      try {
        doc = node.docs.getDoc(id)
      } catch (err) {
        if ((err as Error).name === 'NotFoundError') throw new NotFoundError(`document ${id} is not held on this peer (PUT a key to open it here)`)
        throw err
      }
      return { json: doc.getMap(DOC_MAP).toJSON() }
    }),
    route('PUT', '/docs/:id/:key', async (req) => {
      const id = checkDocId(req.params.id)
      const key = req.params.key
      if (key.length === 0 || key.length > MAX_DOC_KEY_CHARS) throw new InvalidArgumentError(`a document key is 1-${MAX_DOC_KEY_CHARS} characters`)
      const body = await req.json(docPutBody)
      const doc = await node.docs.replicateState(id, { signal: req.signal })
      doc.getMap(DOC_MAP).set(key, body.value)
      return { json: { id, key } }
    })
  ]
}
