#!/usr/bin/env node
// npm run bench [-- NAME ...]: runs bench/NAME.ts (all of them without a name), each printing its
// figures side by side with the baseline its issue names.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

// Benchmarks talk only to loopback: as root, run them in a network namespace that has nothing
// else (WebRTC's ICE would otherwise also try this machine's other addresses).
if (process.getuid?.() === 0 && process.env.AGENTMESH_NETNS !== '1' && spawnSync('which', ['unshare']).status === 0) {
  const self = fileURLToPath(import.meta.url)
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" "${self}" ${process.argv.slice(2).map(a => `'${a}'`).join(' ')}`],
    { stdio: 'inherit', env: { ...process.env, AGENTMESH_NETNS: '1' } })
  process.exit(r.status ?? 1)
}
const available = readdirSync(new URL('.', import.meta.url)).filter(f => f.endsWith('.ts') && !f.startsWith('_')).map(f => f.slice(0, -3)).sort()
const asked = process.argv.slice(2).filter(a => !a.startsWith('-'))
const unknown = asked.filter(a => !available.includes(a))
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; available: ${available.join(', ')}`)
  process.exit(2)
}
let failed = 0
for (const name of asked.length > 0 ? asked : available) {
  console.log(`\n=== bench ${name} ===`)
  const r = spawnSync(process.execPath, ['--conditions=agentmesh-source', '--import', 'tsx', '--import', './test/setup-node.js', `bench/${name}.ts`, ...process.argv.slice(2).filter(a => a.startsWith('-'))],
    { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exit(failed > 0 ? 1 : 0)
