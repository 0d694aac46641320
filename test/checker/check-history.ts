/**
 * Checks a KV history saved by a fault run (FAULTS_PEER_LOG_DIR keeps `<mesh>-kv-history.json`)
 * again, offline, key by key:
 *   node --import tsx test/checker/check-history.ts <history.json> [maxSteps]
 * Prints each key's operations, how many never returned, the verdict and the time it took; exits 1
 * unless every key is linearizable.
 */
import { readFileSync } from 'node:fs'
import { checkOperations, kvModel, type KvOperation } from './linearizability.ts'

const [file, steps] = process.argv.slice(2)
if (file === undefined) {
  process.stderr.write('usage: check-history.ts <history.json> [maxSteps]\n')
  process.exit(2)
}
const history = JSON.parse(readFileSync(file, 'utf8')) as KvOperation[]
const maxSteps = steps === undefined ? undefined : Number(steps)
let failed = false
for (const part of kvModel.partition!(history)) {
  const started = performance.now()
  const r = checkOperations(kvModel, part, maxSteps === undefined ? {} : { maxSteps })
  const unanswered = part.filter(op => op.return == null).length
  process.stdout.write(`${part[0].input.key}: ${part.length} operations, ${unanswered} never returned: ${r.outcome} in ${Math.round(performance.now() - started)} ms\n`)
  if (r.outcome !== 'ok') {
    failed = true
    process.stdout.write(`${r.message}\n`)
  }
}
process.exit(failed ? 1 : 0)
