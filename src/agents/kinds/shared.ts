/** Small helpers the built-in kinds share for validating messages. */
import { InvalidArgumentError } from '../../errors.ts'
import type { JsonObject, JsonValue } from '../types.ts'

export function isObject (x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** the message as an object with a string `op`, or InvalidArgumentError */
export function opOf (message: JsonValue, kind: string): { op: string, msg: JsonObject } {
  if (!isObject(message) || typeof message.op !== 'string') throw new InvalidArgumentError(`${kind}: expected {op: string, ...}`)
  return { op: message.op, msg: message }
}

export function unknownOp (kind: string, op: string, known: string[]): never {
  throw new InvalidArgumentError(`${kind}: unknown op ${JSON.stringify(op)} (expected ${known.join(', ')})`)
}

export function safeInt (x: unknown, what: string, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) {
    throw new InvalidArgumentError(`${what} must be an integer in [${min}, ${max}], got ${JSON.stringify(x)}`)
  }
  return x
}

export function isNamedError (err: unknown, name: string): boolean {
  return err instanceof Error && err.name === name
}
