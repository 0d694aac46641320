/** Admin API routes of the ConsensusManager: /consensus, /kv/*key (docs/API.md section 3). */
import { route, v, type Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'
import { NotFoundError } from '../errors.ts'

const putBody = v.object({ value: v.json(), expectRevision: v.optional(v.integer({ min: 0 })) })

export function consensusRoutes (node: MeshNode): Route[] {
  const consensus = node.consensus
  return [
    route('GET', '/consensus', () => ({ json: consensus.status() })),
    route('GET', '/kv/*key', async (req) => {
      const kv = await consensus.kv.get(req.params.key, { signal: req.signal })
      if (kv === undefined) throw new NotFoundError(`key ${JSON.stringify(req.params.key)} is absent`)
      return { json: { value: kv.value, revision: kv.revision } }
    }),
    route('PUT', '/kv/*key', async (req) => {
      const body = await req.json(putBody)
      const r = await consensus.kv.put(req.params.key, body.value, { signal: req.signal, ...(body.expectRevision !== undefined ? { expectRevision: body.expectRevision } : {}) })
      return { json: r }
    }),
    route('DELETE', '/kv/*key', async (req) => {
      return { json: await consensus.kv.delete(req.params.key, { signal: req.signal }) }
    })
  ]
}
