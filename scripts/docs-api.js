#!/usr/bin/env node
// Generates the API reference (docs/api, HTML) with TypeDoc from src/index.ts.
// TypeDoc 0.28 needs TypeScript 5's JavaScript API; this project compiles with TypeScript 7 (the
// native compiler, which has none). TypeScript 5 is installed under the alias `typescript5`, and
// this script points TypeDoc's `typescript` imports (ESM and require) at it before loading TypeDoc.
//   node scripts/docs-api.js [--out DIR] [--json FILE]
import Module, { register } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const flag = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const out = flag('--out') ?? join(root, 'docs', 'api')
const json = flag('--json')

// ESM: `import ts from "typescript"` inside TypeDoc
const hook = `
export async function resolve (specifier, context, next) {
  if (specifier === 'typescript' || specifier.startsWith('typescript/')) return next(specifier.replace(/^typescript/, 'typescript5'), context)
  return next(specifier, context)
}`
register(`data:text/javascript,${encodeURIComponent(hook)}`, pathToFileURL(root + '/'))
// CommonJS: TypeDoc's createRequire(...).resolve("typescript")
const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  if (request === 'typescript' || request.startsWith('typescript/')) request = request.replace(/^typescript/, 'typescript5')
  return resolveFilename.call(this, request, ...rest)
}

const td = await import('typedoc')
const app = await td.Application.bootstrapWithPlugins({
  entryPoints: [join(root, 'src/index.ts')],
  tsconfig: join(root, 'tsconfig.json'),
  out,
  name: 'agentmesh',
  readme: join(root, 'README.md'),
  excludePrivate: true,
  excludeInternal: true,
  // no source links: a clone's git remote is not a URL readers can follow
  disableSources: true,
  // the types are checked by `npm run typecheck` (TypeScript 7); TypeScript 5 only reads them here
  skipErrorChecking: true,
  logLevel: 'Warn'
})
const project = await app.convert()
if (project == null) {
  console.error('docs:api: TypeDoc could not convert the project')
  process.exit(1)
}
await app.generateDocs(project, out)
if (json != null) await app.generateJson(project, json)
console.log(`docs:api: ${project.getReflectionsByKind(td.ReflectionKind.All).length} reflections, TypeScript ${(await import('typescript5')).default.version}, written to ${out}`)
