/**
 * No container engine runs here, so deploy/ is checked the way it can be: every manifest parses,
 * every command line is accepted by the real CLI parser, and ports, volumes, probes and copied
 * files agree with each other and with the repository.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, parse } from 'yaml'
import { parseCliArgs } from '../../src/cli/args.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const read = (p: string): string => readFileSync(join(root, p), 'utf8')

function cli (args: string[]): { command: string, port?: number, httpPort?: number, data?: string, bootstrap?: string[] } {
  return parseCliArgs(args) as any
}

describe('deploy/', () => {
  it('Dockerfile: copies files that exist, exposes the ports its default command uses, keeps data in the volume', () => {
    const docker = read('deploy/Dockerfile')
    for (const m of docker.matchAll(/^COPY\s+(.+?)\s+\S+$/gm)) {
      for (const src of m[1].split(/\s+/)) assert.ok(existsSync(join(root, src)), `COPY ${src} exists`)
    }
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(docker)![1]) as string[]
    const parsed = cli(cmd)
    const exposed = /^EXPOSE (.+)$/m.exec(docker)![1].split(/\s+/).map(Number)
    assert.deepEqual(exposed.sort(), [parsed.port, parsed.httpPort].sort())
    assert.equal(parsed.data, '/data')
    assert.match(docker, /VOLUME \["\/data"\]/)
    assert.match(docker, /^ENTRYPOINT \["node", "bin\/agentmesh.js"\]$/m)
  })

  it('compose: every service command parses, published ports reach its admin API, volumes are declared, nodes bootstrap through the relay service', () => {
    const compose = parse(read('deploy/compose.yaml'), { merge: true })
    const services = compose.services as Record<string, any>
    assert.ok('relay' in services)
    for (const [name, svc] of Object.entries(services)) {
      const c = cli(svc.command)
      assert.equal(c.command, name === 'relay' ? 'relay' : 'node', name)
      const published = (svc.ports as string[]).map(p => Number(p.split(':')[1]))
      assert.ok(published.includes(c.httpPort!), `${name} publishes its admin port`)
      for (const v of svc.volumes as string[]) assert.ok(v.split(':')[0] in compose.volumes, `${name}: volume ${v} declared`)
      if (name !== 'relay') {
        assert.ok(c.bootstrap!.some(a => a.startsWith('/dns4/relay/tcp/')), `${name} bootstraps through the relay service`)
        assert.ok(c.bootstrap!.some(a => a.includes(`/tcp/${cli(services.relay.command).port}/ws`)), `${name} dials the relay's websocket port`)
      }
    }
  })

  it('kubernetes: args parse, container ports and probes match them, the relay Service and node StatefulSet line up', () => {
    const docs = [...parseAllDocuments(read('deploy/k8s/relay.yaml')), ...parseAllDocuments(read('deploy/k8s/nodes.yaml'))].map(d => d.toJS())
    const byKind = (kind: string): any[] => docs.filter(d => d.kind === kind)
    const relaySvc = byKind('Service').find(s => s.metadata.name === 'agentmesh-relay')
    assert.ok(relaySvc != null)
    for (const workload of [...byKind('Deployment'), ...byKind('StatefulSet')]) {
      assert.deepEqual(workload.spec.selector.matchLabels, workload.spec.template.metadata.labels, `${workload.metadata.name} selects its pods`)
      for (const c of workload.spec.template.spec.containers) {
        const parsed = cli(c.args)
        const ports = Object.fromEntries((c.ports as any[]).map(p => [p.name, p.containerPort]))
        assert.equal(ports['libp2p-ws'], parsed.port)
        assert.equal(ports.admin, parsed.httpPort)
        assert.equal(c.readinessProbe.httpGet.path, '/health')
        const mount = (c.volumeMounts as any[]).find(m => m.mountPath === parsed.data)
        assert.ok(mount != null, 'the data dir is a mounted volume')
        if (workload.kind === 'StatefulSet') {
          assert.ok(workload.spec.volumeClaimTemplates.some((t: any) => t.metadata.name === mount.name), 'nodes keep their data in a claim')
          assert.ok(parsed.bootstrap!.some(a => a.includes(`/dns4/${relaySvc.metadata.name}/tcp/`)), 'nodes bootstrap through the relay Service')
        }
      }
    }
    for (const p of relaySvc.spec.ports) assert.ok(['libp2p-ws', 'admin'].includes(p.targetPort))
  })
})
