#!/usr/bin/env node
// Runs the Node test suite: every test/**/*.spec.ts (not test/browser), TypeScript through tsx,
// package conditions pointing at the sources. Prints `N passed, N failed` last.
//   node test/run-node.js [--sim | --faults | --fuzz | --soak | --e2e] [file-or-dir-filter ...]
// Without a flag it runs *.spec.ts; a flag picks the longer suites instead (*.sim.ts,
// *.faults.ts, *.fuzz.ts, *.soak.ts, *.e2e.ts), each bounded in time by its own files. The e2e
// suite (the real `agentmesh start` and three Chromium tabs) is the last step of `npm test`, run
// alone so no other spec's peers load the machine while it runs.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const suites = ['sim', 'faults', 'fuzz', 'soak', 'e2e']
const suite = suites.find(s => args.includes(`--${s}`))
const suffix = suite === undefined ? '.spec.ts' : `.${suite}.ts`
const filters = args.filter(a => !a.startsWith('--'))

function walk (dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) {
      if (name === 'browser' || name === 'node_modules' || name === 'fixtures') continue
      out.push(...walk(p))
    } else if (name.endsWith(suffix)) out.push(p)
  }
  return out
}

const files = walk(join(root, 'test'))
  .map(f => relative(root, f))
  .filter(f => filters.length === 0 || filters.some(x => f.includes(x)))
  .sort()

if (files.length === 0) {
  console.error('run-node: no test files matched')
  process.exit(1)
}

const countFile = join(tmpdir(), `agentmesh-test-count-${process.pid}.json`)
const child = spawn(process.execPath, [
  '--conditions=agentmesh-source',
  '--import', 'tsx',
  '--import', './test/setup-node.js',
  '--test',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=./test/count-reporter.js', `--test-reporter-destination=${countFile}`,
  ...files
], { cwd: root, stdio: 'inherit', detached: true, env: { ...process.env, AGENTMESH_TEST: '1' } })

// the runner and its test files are one process group of their own, stopped together
const stopGroup = (signal) => { try { process.kill(-child.pid, signal) } catch {} }
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { stopGroup(signal) })

// A whole run has a deadline, so a test file that never exits (a loop or handle left behind) fails
// the run instead of hanging it: 30 minutes for npm test, 90 for the longer suites.
const deadlineMin = Number(process.env.AGENTMESH_TEST_DEADLINE_MIN ?? (suite === undefined ? 30 : 90))
const watchdog = setTimeout(() => {
  console.error(`run-node: the run passed its ${deadlineMin}-minute deadline; stopping it`)
  stopGroup('SIGKILL')
}, deadlineMin * 60_000)
watchdog.unref()

child.on('exit', (code, signal) => {
  clearTimeout(watchdog)
  let counts = { passed: 0, failed: 1, failures: [`test runner exited with ${signal ?? code}`] }
  try { counts = JSON.parse(readFileSync(countFile, 'utf8')) } catch {}
  rmSync(countFile, { force: true })
  if (counts.failures?.length > 0) console.log('\nfailed:\n  ' + counts.failures.join('\n  '))
  const failed = counts.failed + (code !== 0 && counts.failed === 0 ? 1 : 0)
  console.log(`node tests: ${counts.passed} passed, ${failed} failed`)
  process.exit(failed > 0 ? 1 : 0)
})
