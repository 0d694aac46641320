/** Admin API routes of the MessageBroker: publish to a topic, stream a topic as Server-Sent Events. */
import { route, v, type Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'
import { InvalidArgumentError } from '../errors.ts'

const TOPIC = /^[a-zA-Z0-9._:-]{1,128}$/
const publishBody = v.object({ message: v.json() })

function checkTopic (topic: string): string {
  if (!TOPIC.test(topic)) throw new InvalidArgumentError(`topic "${topic.slice(0, 140)}" must be 1-128 of [a-zA-Z0-9._:-]`)
  return topic
}

export function messagingRoutes (node: MeshNode): Route[] {
  return [
    route('POST', '/topics/:topic', async (req) => {
      const topic = checkTopic(req.params.topic)
      const body = await req.json(publishBody)
      const { id, recipients } = await node.broker.publishMessage(topic, body.message, { signal: req.signal })
      return { status: 202, json: { id, recipients } }
    }),
    route('GET', '/topics/:topic/events', (req) => {
      const topic = checkTopic(req.params.topic)
      return {
        sse: (stream) => node.broker.subscribe(topic, (msg) => {
          const data = msg.data instanceof Uint8Array ? { base64: btoa(String.fromCharCode(...msg.data)) } : msg.data
          stream.send({ id: msg.id, from: msg.from, message: data }, { event: 'message', id: msg.id })
        })
      }
    })
  ]
}
