/**
 * The HTTP admin server (docs/API.md section 3). Each component contributes a `Route[]`; the
 * composition root serves them all:
 *
 *     const server = createAdminServer([...networkRoutes(network), ...agentRoutes(agents)])
 *     const url = await server.listen({ host: '127.0.0.1', port: 9091 })
 *     ...
 *     await server.close()
 *
 *     route('POST', '/agents/:id/migrate', async req => {
 *       const { node } = await req.json(v.object({ node: v.string() }))
 *       return { json: await agents.migrateAgent(req.params.id, node, { signal: req.signal }) }
 *     })
 */
export { AdminServer, MethodNotAllowedError, createAdminServer } from './server.ts'
export type { AdminServerOptions, ListenOptions } from './server.ts'
export { Router, route, HTTP_METHODS } from './router.ts'
export type { HttpMethod, PathParams, Route, RouteMatch } from './router.ts'
export type { AdminRequest, AdminResponse, SseHandler } from './types.ts'
export { openSse } from './sse.ts'
export type { SseOptions, SseSendOptions, SseStream } from './sse.ts'
export { v } from './schema.ts'
export type { Infer, ObjectOf, OptionalSchema, Schema } from './schema.ts'
export { queryInt, readBody, parseJson } from './request.ts'
export * from './constants.ts'
