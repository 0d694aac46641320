/**
 * Route table: `METHOD /path/:param/*rest` patterns matched against a request path.
 * Each component contributes its routes as a `Route[]`; the server serves them all.
 * `:name` matches one non-empty segment, `*name` (last only) the rest of the path (for keys with
 * slashes, e.g. `GET /kv/config/x`). Segments are percent-decoded, so `/kv/config%2Fx` works too.
 * When several patterns match, the most specific wins: static beats `:param` beats `*rest`,
 * position by position.
 */
import { InvalidArgumentError, InvalidMessageError } from '../errors.ts'
import type { AdminRequest, AdminResponse } from './types.ts'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
export const HTTP_METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']

type Segments<P extends string> = P extends `${infer A}/${infer B}` ? A | Segments<B> : P
type ParamName<S> = S extends `:${infer N}` ? N : S extends `*${infer N}` ? N : never
/** `{ id: string }` for `/agents/:id/migrate` */
export type PathParams<P extends string> = { [K in ParamName<Segments<P>>]: string }

export interface Route {
  method: HttpMethod
  /** `/agents/:id/migrate`, `/kv/*key` */
  path: string
  // method syntax on purpose: a handler typed for `{ id: string }` params fits here
  handler (req: AdminRequest): Promise<AdminResponse> | AdminResponse
}

/** a route whose handler sees its path params typed: `route('GET', '/agents/:id', req => req.params.id)` */
export function route<P extends string> (
  method: HttpMethod,
  path: P,
  handler: (req: AdminRequest<PathParams<P>>) => Promise<AdminResponse> | AdminResponse
): Route {
  return { method, path, handler: handler as Route['handler'] }
}

type Segment = { kind: 'static', value: string } | { kind: 'param', name: string } | { kind: 'rest', name: string }

interface CompiledRoute {
  route: Route
  segments: Segment[]
}

export type RouteMatch =
  | { kind: 'found', route: Route, params: Record<string, string> }
  | { kind: 'method-not-allowed', allowed: HttpMethod[] }
  | { kind: 'not-found' }

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype'])

function compile (route: Route): CompiledRoute {
  if (!HTTP_METHODS.includes(route.method)) throw new InvalidArgumentError(`route ${route.method} ${route.path}: unsupported method`)
  if (!route.path.startsWith('/')) throw new InvalidArgumentError(`route ${route.method} ${route.path}: path must start with /`)
  const parts = route.path === '/' ? [] : route.path.slice(1).split('/')
  const names = new Set<string>()
  const segments = parts.map((part, i): Segment => {
    if (part.startsWith(':') || part.startsWith('*')) {
      const name = part.slice(1)
      if (!PARAM_NAME.test(name) || RESERVED_NAMES.has(name) || names.has(name)) throw new InvalidArgumentError(`route ${route.method} ${route.path}: bad or repeated parameter ${JSON.stringify(part)}`)
      if (part.startsWith('*') && i !== parts.length - 1) throw new InvalidArgumentError(`route ${route.method} ${route.path}: ${part} must be the last segment`)
      names.add(name)
      return part.startsWith(':') ? { kind: 'param', name } : { kind: 'rest', name }
    }
    if (part.length === 0) throw new InvalidArgumentError(`route ${route.method} ${route.path}: empty segment`)
    return { kind: 'static', value: part }
  })
  return { route, segments }
}

const RANK = { static: 0, param: 1, rest: 2 } as const

function bySpecificity (a: CompiledRoute, b: CompiledRoute): number {
  const n = Math.min(a.segments.length, b.segments.length)
  for (let i = 0; i < n; i++) {
    const d = RANK[a.segments[i].kind] - RANK[b.segments[i].kind]
    if (d !== 0) return d
  }
  return b.segments.length - a.segments.length
}

function shapeOf (c: CompiledRoute): string {
  return c.route.method + ' ' + c.segments.map(s => s.kind === 'static' ? s.value : s.kind === 'param' ? ':' : '*').join('/')
}

function decodeSegment (raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new InvalidMessageError(`malformed percent-encoding in path segment ${JSON.stringify(raw.slice(0, 64))}`)
  }
}

export class Router {
  private compiled: CompiledRoute[] = []

  constructor (routes: Route[] = []) {
    this.add(routes)
  }

  /** adds routes; throws InvalidArgumentError for a bad pattern or one that duplicates another */
  add (routes: Route[]): void {
    const next = [...this.compiled]
    const shapes = new Set(next.map(shapeOf))
    for (const r of routes) {
      const c = compile(r)
      const shape = shapeOf(c)
      if (shapes.has(shape)) throw new InvalidArgumentError(`route ${r.method} ${r.path} duplicates another route`)
      shapes.add(shape)
      next.push(c)
    }
    next.sort(bySpecificity)
    this.compiled = next
  }

  get routes (): Route[] {
    return this.compiled.map(c => c.route)
  }

  /** matches a raw (still percent-encoded) path without its query string */
  match (method: string, rawPath: string): RouteMatch {
    const trimmed = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath
    const parts = trimmed === '/' ? [] : trimmed.slice(1).split('/').map(decodeSegment)
    const allowed: HttpMethod[] = []
    for (const c of this.compiled) {
      const params = matchSegments(c.segments, parts)
      if (params === undefined) continue
      if (c.route.method === method) return { kind: 'found', route: c.route, params }
      if (!allowed.includes(c.route.method)) allowed.push(c.route.method)
    }
    return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' }
  }
}

function matchSegments (segments: Segment[], parts: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {}
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]
    if (s.kind === 'rest') {
      const rest = parts.slice(i)
      if (rest.length === 0 || rest.some(p => p.length === 0)) return undefined
      params[s.name] = rest.join('/')
      return params
    }
    const part = parts[i]
    if (part === undefined) return undefined
    if (s.kind === 'static') {
      if (part !== s.value) return undefined
    } else {
      if (part.length === 0) return undefined
      params[s.name] = part
    }
  }
  return parts.length === segments.length ? params : undefined
}
