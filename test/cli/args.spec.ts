import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseCliArgs } from '../../src/cli/args.ts'
import { hostMultiaddrPrefix, httpUrl } from '../../src/cli/values.ts'
import { usage } from '../../src/cli/usage.ts'
import { InvalidArgumentError } from '../../src/errors.ts'

const PEER = '12D3KooWGRUVh7Q3cJtmJxEyxk6jy4gaN7dtHdeXbXk8z8iYSaTi'
const RELAY = `/ip4/127.0.0.1/tcp/9090/ws/p2p/${PEER}`
const RELAY2 = `/ip4/127.0.0.1/tcp/9092/p2p/${PEER}`

function parse (...argv: string[]): ReturnType<typeof parseCliArgs> {
  return parseCliArgs(argv, { cwd: '/srv' })
}

/** asserts the parse fails with InvalidArgumentError, a single line, matching `re` */
function rejects (argv: string[], re: RegExp): void {
  assert.throws(() => parseCliArgs(argv, { cwd: '/srv' }), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`)
    assert.equal(err.name, 'InvalidArgumentError')
    assert.ok(!err.message.includes('\n'), `message must be one line: ${JSON.stringify(err.message)}`)
    assert.match(err.message, re)
    return true
  })
}

describe('parseCliArgs: defaults from API.md', () => {
  it('relay', () => {
    assert.deepEqual(parse('relay'), {
      command: 'relay', host: '127.0.0.1', port: 9090, httpHost: '127.0.0.1', httpPort: 9091, mesh: 'agentmesh'
    })
  })
  it('node', () => {
    assert.deepEqual(parse('node', '--bootstrap', RELAY), {
      command: 'node', host: '127.0.0.1', port: 0, httpHost: '127.0.0.1', httpPort: 0, mesh: 'agentmesh',
      bootstrap: [RELAY], voter: true, tags: []
    })
  })
  it('start', () => {
    assert.deepEqual(parse('start'), { command: 'start', nodes: 3, port: 9090, demoPort: 5173, host: '127.0.0.1', mesh: 'agentmesh' })
  })
})

describe('parseCliArgs: every flag', () => {
  it('relay with all flags, both --flag value and --flag=value', () => {
    assert.deepEqual(parse('relay', '--host', '0.0.0.0', '--port=4001', '--http-host', '::1', '--http-port', '0', '--data', 'relay-data', '--mesh=lab.1'), {
      command: 'relay', host: '0.0.0.0', port: 4001, httpHost: '::1', httpPort: 0, data: '/srv/relay-data', mesh: 'lab.1'
    })
  })
  it('node with all flags; list flags add up and deduplicate', () => {
    const cmd = parse('node', '--bootstrap', `${RELAY},${RELAY2}`, '--bootstrap', RELAY, '--host', 'peer-1.example.org',
      '--port', '4002', '--http-port', '8080', '--data', '/var/lib/am', '--mesh', 'm', '--no-voter',
      '--cpu', '0.5', '--memory-mb', '2048', '--tags', 'llm, gpu', '--tags=llm,edge')
    assert.deepEqual(cmd, {
      command: 'node', host: 'peer-1.example.org', port: 4002, httpHost: '127.0.0.1', httpPort: 8080,
      data: '/var/lib/am', mesh: 'm', bootstrap: [RELAY, RELAY2], voter: false, cpu: 0.5, memoryMb: 2048,
      tags: ['llm', 'gpu', 'edge']
    })
    assert.equal((parse('node', '--bootstrap', RELAY, '--voter') as { voter: boolean }).voter, true)
  })
  it('start with all flags', () => {
    assert.deepEqual(parse('start', '--nodes', '0', '--port', '9190', '--demo-port', '0', '--host', '127.0.0.2', '--mesh', 'x', '--data', 'd'), {
      command: 'start', nodes: 0, port: 9190, demoPort: 0, host: '127.0.0.2', mesh: 'x', data: '/srv/d'
    })
  })
})

describe('parseCliArgs: help and version', () => {
  it('--help anywhere wins, even over bad flags', () => {
    assert.deepEqual(parse('--help'), { command: 'help' })
    assert.deepEqual(parse('-h'), { command: 'help' })
    assert.deepEqual(parse('help'), { command: 'help' })
    assert.deepEqual(parse('help', 'node'), { command: 'help', topic: 'node' })
    assert.deepEqual(parse('relay', '--port', 'abc', '--help'), { command: 'help', topic: 'relay' })
    assert.deepEqual(parse('node', '-h'), { command: 'help', topic: 'node' })
    rejects(['help', 'bogus'], /^unknown help topic "bogus"/)
  })
  it('--version', () => {
    assert.deepEqual(parse('--version'), { command: 'version' })
    assert.deepEqual(parse('start', '-V'), { command: 'version' })
  })
  it('usage names every flag of the command', () => {
    for (const flag of ['--bootstrap', '--no-voter', '--cpu', '--memory-mb', '--tags', '--http-port', '--data', '--mesh']) {
      assert.ok(usage('node').includes(flag), flag)
    }
    for (const flag of ['--nodes', '--demo-port']) assert.ok(usage('start').includes(flag), flag)
    assert.match(usage(), /relay.*\n.*node.*\n.*start/)
  })
})

describe('parseCliArgs: errors are one line naming the flag', () => {
  it('missing or unknown command', () => {
    rejects([], /^missing command/)
    rejects(['rely'], /^unknown command "rely": expected relay, node or start$/)
    rejects(['--port', '1'], /^unknown flag --port: expected a command first/)
  })
  it('unknown flag, with a hint when close to a known one', () => {
    rejects(['relay', '--prot', '1'], /^unknown flag --prot for agentmesh relay \(did you mean --port\?\)$/)
    rejects(['relay', '--bogus'], /^unknown flag --bogus for agentmesh relay$/)
    rejects(['relay', '--bootstrap', RELAY], /^unknown flag --bootstrap for agentmesh relay$/)
    rejects(['relay', '--no-port'], /^unknown flag --no-port/)
    rejects(['relay', '-p', '1'], /^unknown flag -p$/)
    rejects(['relay', '--__proto__', 'x'], /^unknown flag --__proto__/)
    rejects(['start', '--voter'], /^unknown flag --voter for agentmesh start/)
  })
  it('positionals and repeated scalar flags', () => {
    rejects(['relay', 'extra'], /^unexpected argument "extra"/)
    rejects(['relay', '--', '--port'], /^unexpected argument "--"/)
    rejects(['relay', '--port', '1', '--port', '2'], /^--port given more than once$/)
    rejects(['node', '--bootstrap', RELAY, '--voter', '--no-voter'], /^--voter given more than once$/)
    rejects(['node', '--bootstrap', RELAY, '--voter=yes'], /^--voter takes no value$/)
  })
  it('missing values', () => {
    rejects(['relay', '--port'], /^--port needs a value$/)
    rejects(['relay', '--port', '--host', 'x'], /^--port needs a value$/)
    rejects(['node', '--bootstrap'], /^--bootstrap needs a value$/)
  })
  it('ports are integers 0-65535', () => {
    rejects(['relay', '--port', 'abc'], /^--port must be an integer 0-65535, got "abc"$/)
    rejects(['relay', '--port', '65536'], /^--port must be an integer 0-65535, got "65536"$/)
    rejects(['relay', '--port', '-1'], /^--port must be an integer 0-65535, got "-1"$/)
    rejects(['relay', '--port', '1.5'], /^--port must be/)
    rejects(['relay', '--port', '0x10'], /^--port must be/)
    rejects(['relay', '--port', '1e3'], /^--port must be/)
    rejects(['relay', '--port='], /^--port must be an integer 0-65535, got ""$/)
    rejects(['relay', '--http-port', ' 80'], /^--http-port must be/)
    rejects(['start', '--demo-port', '99999'], /^--demo-port must be/)
    assert.equal((parse('relay', '--port', '65535') as { port: number }).port, 65535)
  })
  it('hosts are IP addresses or DNS names', () => {
    rejects(['relay', '--host', 'not a host'], /^--host must be an IPv4\/IPv6 address or a host name, got "not a host"$/)
    rejects(['relay', '--host', '999.1.1.1'], /^--host must be/)
    rejects(['relay', '--http-host', '-bad.example'], /^--http-host must be/)
    rejects(['relay', '--host', ''], /^--host must be/)
    rejects(['relay', '--host', 'a'.repeat(64) + '.com'], /^--host must be/)
    rejects(['relay', '--host', 'http://127.0.0.1'], /^--host must be/)
    for (const ok of ['localhost', '10.0.0.1', '::', 'fe80::1', 'relay-1.mesh.internal']) {
      assert.equal((parse('relay', '--host', ok) as { host: string }).host, ok)
    }
  })
  it('cpu and memory are numbers > 0', () => {
    const base = ['node', '--bootstrap', RELAY]
    rejects([...base, '--cpu', '0'], /^--cpu must be a number > 0 and <= \d+, got "0"$/)
    rejects([...base, '--cpu', '-2'], /^--cpu must be a number > 0/)
    rejects([...base, '--cpu', 'two'], /^--cpu must be/)
    rejects([...base, '--cpu', 'Infinity'], /^--cpu must be/)
    rejects([...base, '--memory-mb', '1e9'], /^--memory-mb must be/)
    rejects([...base, '--memory-mb', '99999999999'], /^--memory-mb must be/)
  })
  it('tags, mesh, nodes and data', () => {
    const base = ['node', '--bootstrap', RELAY]
    rejects([...base, '--tags', 'a,,b'], /^--tags must be a comma-separated list of tags/)
    rejects([...base, '--tags', 'has space'], /^--tags must be/)
    rejects([...base, '--tags', Array.from({ length: 33 }, (_, i) => `t${i}`).join(',')], /^--tags takes at most 32 tags, got 33$/)
    rejects(['relay', '--mesh', 'a/b'], /^--mesh must be a name/)
    rejects(['relay', '--mesh', 'x'.repeat(65)], /^--mesh must be a name/)
    rejects(['start', '--nodes', '33'], /^--nodes must be an integer 0-32, got "33"$/)
    rejects(['relay', '--data', ''], /^--data must be a directory path/)
    rejects(['relay', '--port', '9'.repeat(70_000)], /^--port value is too long/)
  })
  it('node needs --bootstrap multiaddrs; a peer id, when given, must be valid', () => {
    rejects(['node'], /^--bootstrap is required for agentmesh node/)
    rejects(['node', '--bootstrap', 'relay.example:9090'], /^--bootstrap must be a comma-separated list of multiaddrs, got "relay.example:9090"$/)
    // without /p2p/: containers can't know the relay's id in advance
    assert.deepEqual((parse('node', '--bootstrap', '/dns4/relay/tcp/9090/ws') as { bootstrap: string[] }).bootstrap, ['/dns4/relay/tcp/9090/ws'])
    rejects(['node', '--bootstrap', '/ip4/127.0.0.1/tcp/9090/p2p/notapeer'], /^--bootstrap must be a comma-separated list of multiaddrs/)
    rejects(['node', '--bootstrap', `${RELAY},`], /^--bootstrap must be/)
  })
  it('error values are quoted and cut short', () => {
    rejects(['relay', '--port', 'x'.repeat(500)], /^--port must be an integer 0-65535, got "x{60}\.\.\."$/)
    rejects(['relay', '--host', 'a\nb'], /got "a\\nb"$/)
  })
})

describe('host helpers', () => {
  it('multiaddr prefix and http URL for each host kind', () => {
    assert.equal(hostMultiaddrPrefix('127.0.0.1'), '/ip4/127.0.0.1')
    assert.equal(hostMultiaddrPrefix('::1'), '/ip6/::1')
    assert.equal(hostMultiaddrPrefix('relay.example.'), '/dns/relay.example')
    assert.throws(() => hostMultiaddrPrefix('a b'), InvalidArgumentError)
    assert.equal(httpUrl('::1', 80), 'http://[::1]:80')
    assert.equal(httpUrl('127.0.0.1', 9091), 'http://127.0.0.1:9091')
  })
})
