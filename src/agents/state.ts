/**
 * An in-memory AgentState: the same contract as the CRDT layer's YKeyValue (which backs agent
 * state in production), for tests and single-process meshes. Values are stored as JSON copies,
 * so code that mutates a value it read (which would not replicate) sees no effect here either.
 */
import { InvalidArgumentError } from '../errors.ts'
import type { AgentState } from './types.ts'

function jsonCopy (value: unknown): unknown {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (err) {
    throw new InvalidArgumentError(`agent state values must be JSON: ${(err as Error).message}`)
  }
  if (text === undefined) throw new InvalidArgumentError('agent state values must be JSON')
  return JSON.parse(text)
}

export class MemoryAgentState implements AgentState {
  private readonly map = new Map<string, unknown>()

  constructor (initial: Record<string, unknown> = {}) {
    for (const [k, v] of Object.entries(initial)) this.set(k, v)
  }

  get (key: string): unknown {
    const v = this.map.get(key)
    return v === undefined ? undefined : jsonCopy(v)
  }

  set (key: string, value: unknown): void {
    if (typeof key !== 'string') throw new InvalidArgumentError('key must be a string')
    if (value === undefined) { this.delete(key); return }
    this.map.set(key, jsonCopy(value))
  }

  delete (key: string): void {
    this.map.delete(key)
  }

  has (key: string): boolean {
    return this.map.has(key)
  }

  * entries (): IterableIterator<[string, unknown]> {
    for (const [k, v] of this.map) yield [k, jsonCopy(v)]
  }

  get size (): number {
    return this.map.size
  }

  toJSON (): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [k, v] of this.map) out[k] = jsonCopy(v)
    return out
  }
}
