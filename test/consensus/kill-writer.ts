/**
 * Runs the Raft log writer fixture on `dir` and SIGKILLs it once it has acknowledged at least
 * `killAfter` Readies; resolves with how many it acknowledged before it died.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export async function runWriterUntilKilled (dir: string, killAfter: number, backend: 'store' | 'wal' = 'store'): Promise<number> {
  const script = fileURLToPath(new URL('./fixtures/raft-log-writer.ts', import.meta.url))
  const args = ['--conditions=agentmesh-source', '--import', 'tsx', script, dir, ...(backend === 'wal' ? ['wal'] : [])]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let acked = 0
  let buffered = ''
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', () => { resolve() })
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n'); buffered = lines.pop() ?? ''
      for (const line of lines) {
        const m = /^acked (\d+)$/.exec(line)
        if (m != null) acked = Number(m[1])
        if (acked >= killAfter && child.exitCode == null) child.kill('SIGKILL')
      }
    })
  })
  return acked
}
