#!/usr/bin/env node
// The `agentmesh` command. Runs the TypeScript sources (src/cli/main.ts) through tsx with the
// `agentmesh-source` package condition, so what runs is always what is checked out: no build step
// and no stale dist/. tsx is a runtime dependency for that reason. Set AGENTMESH_FROM_DIST=1 to
// run the compiled dist/ instead (after `npm run build`); dist/ is also used when src/ is absent.
import { existsSync } from 'node:fs'
import { register } from 'node:module'

const source = new URL('../src/cli/main.ts', import.meta.url)
const built = new URL('../dist/src/cli/main.js', import.meta.url)
const fromDist = process.env.AGENTMESH_FROM_DIST === '1' || !existsSync(source)

if (!fromDist) {
  // under `node --import tsx --conditions=agentmesh-source` (tests) both are already in place
  if (!process.execArgv.some(a => a.includes('tsx'))) {
    const { register: registerTsx } = await import('tsx/esm/api')
    registerTsx()
  }
  if (!process.execArgv.some(a => a.includes('agentmesh-source'))) {
    // a resolve hook that adds the condition; registered last, so it runs before tsx's
    const hook = 'export async function resolve (specifier, context, next) {' +
      " return next(specifier, context.conditions.includes('agentmesh-source') ? context" +
      " : { ...context, conditions: [...context.conditions, 'agentmesh-source'] }) }"
    register('data:text/javascript,' + encodeURIComponent(hook), import.meta.url)
  }
}

const { main } = await import(fromDist ? built.href : source.href)
process.exit(await main(process.argv.slice(2)))
