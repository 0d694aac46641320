#!/usr/bin/env node
// Runs the browser suite: every test/browser/*.test.ts, pre-bundled with esbuild for the browser
// (package conditions browser + agentmesh-source), in Debian's headless Chromium through
// web-test-runner + Playwright, against a relay and two Node peers started here first.
// As root it runs itself inside a network namespace that has only loopback, so no test can reach
// another address and WebRTC's ICE can only pick loopback. Prints `N passed, N failed` last.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

if (process.getuid?.() === 0 && process.env.AGENTMESH_NETNS !== '1' && spawnSync('which', ['unshare']).status === 0) {
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" "${fileURLToPath(import.meta.url)}" ${process.argv.slice(2).map(a => `'${a}'`).join(' ')}`],
    { stdio: 'inherit', env: { ...process.env, AGENTMESH_NETNS: '1' } })
  process.exit(r.status ?? 1)
}

if (!existsSync(CHROMIUM)) {
  console.error(`run-browser: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`)
  console.log('browser tests: 0 passed, 1 failed')
  process.exit(1)
}

const filters = process.argv.slice(2)
const build = join(root, '.wtr-build')
rmSync(build, { recursive: true, force: true })
mkdirSync(build, { recursive: true })

const { build: esbuild } = await import('esbuild')
const testFiles = readdirSync(join(root, 'test/browser')).filter(f => f.endsWith('.test.ts') && (filters.length === 0 || filters.some(x => f.includes(x))))
const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  conditions: ['agentmesh-source', 'browser'],
  sourcemap: 'inline',
  logLevel: 'warning',
  define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis' }
}
await esbuild({ ...common, entryPoints: testFiles.map(f => join(root, 'test/browser', f)), outdir: build })
await esbuild({ ...common, entryPoints: [join(root, 'test/browser/peer-tab.ts')], outdir: build })
writeFileSync(join(build, 'peer-tab.html'), '<!doctype html><meta charset="utf-8"><title>peer tab</title><script type="module" src="./peer-tab.js"></script>\n')

// the Node side: relay + two Node peers
const fixture = spawn(process.execPath, ['--conditions=agentmesh-source', '--import', 'tsx', '--import', './test/setup-node.js', 'test/browser/fixture-mesh.ts'],
  { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] })
const line = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: fixture.stdout })
  const timer = setTimeout(() => reject(new Error('fixture mesh did not start in 30 s')), 30_000)
  rl.once('line', l => { clearTimeout(timer); resolve(l) })
  fixture.once('exit', code => reject(new Error(`fixture mesh exited with ${code}`)))
})
writeFileSync(join(build, 'fixture.json'), line)

const counts = { passed: 0, failed: 0, skipped: 0, failures: [] }
function countTests (suite, path) {
  for (const t of suite.tests ?? []) {
    if (t.skipped) counts.skipped++
    else if (t.passed) counts.passed++
    else { counts.failed++; counts.failures.push(`${path} :: ${t.name}${t.error ? `: ${t.error.message}` : ''}`) }
  }
  for (const s of suite.suites ?? []) countTests(s, `${path} > ${s.name}`)
}
const countingReporter = {
  onTestRunFinished ({ sessions }) {
    for (const s of sessions) {
      if (s.testResults != null) countTests(s.testResults, s.testFile)
      for (const e of s.errors ?? []) { counts.failed++; counts.failures.push(`${s.testFile}: ${e.message}`) }
      if (s.testResults == null && (s.errors ?? []).length === 0 && !s.passed) { counts.failed++; counts.failures.push(`${s.testFile}: did not run`) }
    }
  }
}

const { startTestRunner, defaultReporter } = await import('@web/test-runner')
const { playwrightLauncher } = await import('@web/test-runner-playwright')
const runner = await startTestRunner({
  readCliArgs: false,
  readFileConfig: false,
  autoExitProcess: false,
  config: {
    rootDir: root,
    files: testFiles.map(f => join(build, f.replace(/\.ts$/, '.js'))),
    nodeResolve: false,
    concurrency: 1,
    concurrentBrowsers: 1,
    testsFinishTimeout: 180_000,
    browserStartTimeout: 60_000,
    testFramework: { config: { timeout: 60_000 } },
    reporters: [defaultReporter(), countingReporter],
    browsers: [playwrightLauncher({
      product: 'chromium',
      launchOptions: {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
          '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection']
        // Playwright launches with a fresh, temporary --user-data-dir of its own
      },
      // without the grant Chrome gathers no ICE candidates on loopback
      createBrowserContext: ({ browser }) => browser.newContext({ permissions: ['camera', 'microphone'] })
    })]
  }
})

const ok = await new Promise(resolve => runner.on('stopped', passed => resolve(passed)))
fixture.stdin.end()
fixture.kill('SIGTERM')
if (counts.failures.length > 0) console.log('\nfailed:\n  ' + counts.failures.join('\n  '))
if (!ok && counts.failed === 0) counts.failed = 1
console.log(`browser tests: ${counts.passed} passed, ${counts.failed} failed`)
process.exit(counts.failed > 0 ? 1 : 0)
