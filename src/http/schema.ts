/**
 * A tiny typed validator for JSON request bodies (and anything else decoded from outside).
 *
 *     const DeployBody = v.object({ id: v.string({ max: 128 }), kind: v.string(), node: v.optional(v.string()) })
 *     type DeployBody = Infer<typeof DeployBody>          // { id: string, kind: string, node?: string }
 *     const body = DeployBody.parse(json, 'body')          // throws InvalidMessageError('body.id must be ...')
 *
 * Objects refuse unknown fields by default (a typo such as `nod` is an error, not a silent no-op).
 */
import { InvalidMessageError } from '../errors.ts'

export interface Schema<T> {
  /** returns the value typed, or throws InvalidMessageError naming `path` */
  parse: (value: unknown, path?: string) => T
  /** what it accepts, for error messages */
  readonly expected: string
}

export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true
}

export type Infer<S> = S extends Schema<infer T> ? T : never

type Shape = Record<string, Schema<unknown>>
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends OptionalSchema<unknown> ? K : never }[keyof S]
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>
type Simplify<T> = { [K in keyof T]: T[K] }
export type ObjectOf<S extends Shape> = Simplify<
{ [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> }
>

function describeValue (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return typeof value === 'object' ? 'an object' : typeof value
}

function fail (path: string, expected: string, value: unknown): never {
  throw new InvalidMessageError(`${path} must be ${expected}, got ${describeValue(value)}`)
}

function schema<T> (expected: string, check: (value: unknown, path: string) => T): Schema<T> {
  return { expected, parse: (value, path = 'value') => check(value, path) }
}

export interface StringOptions { min?: number, max?: number, pattern?: RegExp }
export interface NumberOptions { min?: number, max?: number }

const DEFAULT_MAX_STRING_CHARS = 64 * 1024
const DEFAULT_MAX_ARRAY_ITEMS = 10_000

export const v = {
  string (opts: StringOptions = {}): Schema<string> {
    const min = opts.min ?? 1
    const max = opts.max ?? DEFAULT_MAX_STRING_CHARS
    const expected = `a string of ${min}-${max} characters${opts.pattern != null ? ` matching ${String(opts.pattern)}` : ''}`
    return schema(expected, (value, path) => {
      if (typeof value !== 'string' || value.length < min || value.length > max) fail(path, expected, value)
      if (opts.pattern != null && !opts.pattern.test(value)) fail(path, expected, value)
      return value
    })
  },

  number (opts: NumberOptions = {}): Schema<number> {
    const expected = `a number${opts.min != null ? ` >= ${opts.min}` : ''}${opts.max != null ? ` <= ${opts.max}` : ''}`
    return schema(expected, (value, path) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, expected, value)
      if ((opts.min != null && value < opts.min) || (opts.max != null && value > opts.max)) fail(path, expected, value)
      return value
    })
  },

  integer (opts: NumberOptions = {}): Schema<number> {
    const expected = `an integer${opts.min != null ? ` >= ${opts.min}` : ''}${opts.max != null ? ` <= ${opts.max}` : ''}`
    return schema(expected, (value, path) => {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(path, expected, value)
      if ((opts.min != null && value < opts.min) || (opts.max != null && value > opts.max)) fail(path, expected, value)
      return value
    })
  },

  boolean (): Schema<boolean> {
    return schema('a boolean', (value, path) => typeof value === 'boolean' ? value : fail(path, 'a boolean', value))
  },

  literal<const L extends ReadonlyArray<string | number | boolean>> (...values: L): Schema<L[number]> {
    const expected = `one of ${values.map(x => JSON.stringify(x)).join(', ')}`
    return schema(expected, (value, path) => (values as readonly unknown[]).includes(value) ? value as L[number] : fail(path, expected, value))
  },

  /** any JSON value, including null (agent messages, configs); required unless wrapped in optional */
  json (): Schema<unknown> {
    return schema('a JSON value', (value, path) => value === undefined ? fail(path, 'a JSON value', value) : value)
  },

  optional<T> (inner: Schema<T>): OptionalSchema<T> {
    return { optional: true, expected: `${inner.expected} (optional)`, parse: (value, path = 'value') => value === undefined ? undefined : inner.parse(value, path) }
  },

  array<T> (item: Schema<T>, opts: { min?: number, max?: number } = {}): Schema<T[]> {
    const min = opts.min ?? 0
    const max = opts.max ?? DEFAULT_MAX_ARRAY_ITEMS
    const expected = `an array of ${min}-${max} items`
    return schema(expected, (value, path) => {
      if (!Array.isArray(value) || value.length < min || value.length > max) fail(path, expected, value)
      return value.map((x, i) => item.parse(x, `${path}[${i}]`))
    })
  },

  object<S extends Shape> (shape: S, opts: { unknownKeys?: 'reject' | 'strip' } = {}): Schema<ObjectOf<S>> {
    const keys = Object.keys(shape)
    return schema('an object', (value, path) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'an object', value)
      const input = value as Record<string, unknown>
      if (opts.unknownKeys !== 'strip') {
        for (const k of Object.keys(input)) {
          if (!Object.hasOwn(shape, k)) throw new InvalidMessageError(`${path} has unknown field ${JSON.stringify(k.slice(0, 64))}`)
        }
      }
      const out: Record<string, unknown> = {}
      for (const k of keys) {
        const raw = Object.hasOwn(input, k) ? input[k] : undefined
        const parsed = shape[k].parse(raw, `${path}.${k}`)
        if (parsed !== undefined) out[k] = parsed
      }
      return out as ObjectOf<S>
    })
  }
}
