/**
 * The CLI entry (bin/agentmesh.js imports this): parses the flags, answers --help/--version,
 * and hands every other command to `runCommand` (src/cli/commands.ts). Returns the exit code:
 * 0 done, 2 bad flags (one line on stderr naming the flag), 1 anything else that failed.
 */
import '../platform/polyfills.node.ts'
import { parseCliArgs } from './args.ts'
import { usage } from './usage.ts'
import { VERSION } from '../version.ts'
import { InvalidArgumentError, describeError } from '../errors.ts'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

export interface MainIo {
  stdout: { write: (s: string) => unknown }
  stderr: { write: (s: string) => unknown }
}

/** the error as one line (a message may carry newlines from a library; they are folded) */
function oneLine (s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim()
}

export async function main (argv: readonly string[] = process.argv.slice(2), io: MainIo = process): Promise<number> {
  try {
    if (argv[0] === 'doctor') return await doctor(argv.slice(1), io)
    const cmd = parseCliArgs(argv)
    if (cmd.command === 'help') {
      io.stdout.write(usage(cmd.topic))
      return EXIT_OK
    }
    if (cmd.command === 'version') {
      io.stdout.write(`agentmesh ${VERSION}\n`)
      return EXIT_OK
    }
    watchParent()
    // loaded only now: --help and bad flags answer without loading libp2p
    const { runCommand } = await import('./commands.ts')
    return await runCommand(cmd)
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      io.stderr.write(`agentmesh: ${oneLine(err.message)}\n`)
      return EXIT_USAGE
    }
    const { name, message } = describeError(err)
    io.stderr.write(`agentmesh: ${name}: ${oneLine(message)}\n`)
    return EXIT_FAILURE
  }
}

/** `agentmesh doctor` (src/cli/doctor.ts): 0 when every check passed, 1 when one failed */
async function doctor (argv: readonly string[], io: MainIo): Promise<number> {
  const { parseDoctorArgs, runDoctor, formatChecks, DOCTOR_USAGE } = await import('./doctor.ts')
  const opts = parseDoctorArgs(argv)
  if (opts === 'help') {
    io.stdout.write(DOCTOR_USAGE)
    return EXIT_OK
  }
  const checks = await runDoctor(opts)
  io.stdout.write(formatChecks(checks))
  return checks.some(c => c.status === 'fail') ? EXIT_FAILURE : EXIT_OK
}

/** how often a supervised process checks that its supervisor is still alive */
const PARENT_CHECK_INTERVAL_MS = 1000

/**
 * Under a supervisor that sets AGENTMESH_PARENT_PID (`agentmesh start`, tests, benchmarks), stop
 * with it: when that process is gone, act as if SIGTERM arrived, so a crashed supervisor leaves
 * no orphaned peers behind.
 */
function watchParent (): void {
  const parent = Number(process.env.AGENTMESH_PARENT_PID)
  if (!Number.isInteger(parent) || parent <= 1) return
  const timer = setInterval(() => {
    try {
      process.kill(parent, 0)
    } catch {
      clearInterval(timer)
      process.kill(process.pid, 'SIGTERM')
    }
  }, PARENT_CHECK_INTERVAL_MS)
  timer.unref()
}
