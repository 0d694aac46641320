/** Admin API routes of the DistributedAgentManager: /agents (docs/API.md section 3). */
import { route, v, type Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'
import { InvalidArgumentError } from '../errors.ts'
import { validateAgentId } from '../agents/index.ts'
import type { JsonObject, JsonValue } from '../agents/index.ts'

const deployBody = v.object({
  id: v.string({ max: 128 }),
  kind: v.string({ max: 64 }),
  node: v.optional(v.string({ max: 256 })),
  config: v.optional(v.json())
})
const migrateBody = v.object({ node: v.string({ max: 256 }) })
const messageBody = v.object({ message: v.json(), timeoutMs: v.optional(v.integer({ min: 1, max: 300_000 })), messageId: v.optional(v.string({ max: 256 })) })
const sendBody = v.object({ message: v.json() })
const recoverBody = v.object({ acceptLoss: v.boolean() })

function configOf (config: unknown): JsonObject | undefined {
  if (config === undefined) return undefined
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new InvalidArgumentError('config must be an object')
  return config as JsonObject
}

export function agentsRoutes (node: MeshNode): Route[] {
  const agents = node.agents
  return [
    route('GET', '/agents', async (req) => ({ json: await agents.listAgents({ signal: req.signal }) })),
    route('POST', '/agents', async (req) => {
      const body = await req.json(deployBody)
      const config = configOf(body.config)
      const deployed = await agents.deployAgent(body.id, {
        kind: body.kind,
        ...(body.node !== undefined ? { node: body.node } : {}),
        ...(config !== undefined ? { config } : {})
      }, { signal: req.signal })
      return { status: 201, json: deployed }
    }),
    route('GET', '/agents/:id', async (req) => ({ json: await agents.inspectAgent(req.params.id, { signal: req.signal }) })),
    route('POST', '/agents/:id/migrate', async (req) => {
      const body = await req.json(migrateBody)
      const moved = await agents.migrateAgent(req.params.id, body.node, { signal: req.signal })
      return { json: { id: moved.id, node: moved.node, epoch: moved.epoch } }
    }),
    route('POST', '/agents/:id/messages', async (req) => {
      const body = await req.json(messageBody)
      const reply = await agents.call(req.params.id, body.message as JsonValue, {
        signal: req.signal,
        ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}),
        ...(body.messageId !== undefined ? { messageId: body.messageId } : {})
      })
      return { json: { reply } }
    }),
    // a durable one-way message: 202 once this peer's outbox holds it; delivered (ack, retry,
    // dedup) in the background, through restarts of either side and moves of the agent. A peer
    // whose clock is the mesh's outlier accepts nothing: 503 ClockSkewError, send elsewhere
    route('POST', '/agents/:id/send', async (req) => {
      const body = await req.json(sendBody)
      const sent = await node.broker.send(validateAgentId(req.params.id), body.message, { signal: req.signal })
      return { status: 202, json: { id: sent.id, seq: sent.seq } }
    }),
    route('GET', '/agents/:id/state', async (req) => ({ json: await agents.agentState(req.params.id, { signal: req.signal }) })),
    // the operator's override for an agent whose replica set lost too many members for good: it
    // goes on from the reachable ones; turns acknowledged only on the lost ones are lost, so the
    // body must say so
    route('POST', '/agents/:id/recover', async (req) => {
      const body = await req.json(recoverBody)
      if (!body.acceptLoss) throw new InvalidArgumentError('a forced recovery may lose acknowledged turns: send {"acceptLoss": true}')
      return { json: await agents.forceRecoverAgent(req.params.id, { signal: req.signal }) }
    })
  ]
}
