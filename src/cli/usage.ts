/** The text `agentmesh --help` prints (docs/API.md section 2). */
import type { CommandName } from './args.ts'
import {
  DEFAULT_HOST, DEFAULT_HTTP_HOST, DEFAULT_MESH, DEFAULT_RELAY_HTTP_PORT, DEFAULT_RELAY_PORT,
  DEFAULT_START_DEMO_PORT, DEFAULT_START_NODES, DEFAULT_START_PORT, MAX_START_NODES
} from './constants.ts'

const PEER_FLAGS = (port: string, httpPort: string): string => `
  --host ADDR        address to listen on and announce (default ${DEFAULT_HOST})
  --port N           libp2p port, 0 picks a free one (default ${port})
  --http-host ADDR   address of the HTTP admin API (default ${DEFAULT_HTTP_HOST})
  --http-port N      HTTP admin API port, 0 picks a free one (default ${httpPort})
  --data DIR         identity key, Raft log and agent state; a restart with the same DIR is
                     the same peer (default: in memory)
  --mesh NAME        mesh namespace; peers of other meshes are ignored (default ${DEFAULT_MESH})
  --mesh-key KEY     the mesh admin public key (base64, or a file holding it): peers need a
                     credential signed by it to vote, host agents or publish on control topics
  --credential C     this peer's credential (text, or a file holding it)`

const COMMAND_USAGE: Record<CommandName, string> = {
  relay: `usage: agentmesh relay [flags]

Runs a relay: WebSockets for browsers, TCP for Node peers, circuit relay, DHT server, and a full
mesh peer.
${PEER_FLAGS(String(DEFAULT_RELAY_PORT), String(DEFAULT_RELAY_HTTP_PORT))}
  --admin-key FILE   the mesh admin private key: issue short-lived credentials (for browser
                     tabs) at POST /credentials, to callers presenting
                     "Authorization: Bearer $AGENTMESH_ADMIN_SECRET"
`,
  node: `usage: agentmesh node --bootstrap ADDR[,ADDR...] [flags]

Runs a headless Node peer that joins the mesh through the given relay(s).

  --bootstrap ADDRS  relay multiaddrs ending in /p2p/<peer id>, comma-separated (required;
                     may be repeated)${PEER_FLAGS('0', '0')}
  --voter            candidate for the Raft voter group (the default)
  --no-voter         never a voter, only a learner
  --cpu N            advertised CPU capacity, a number > 0
  --memory-mb N      advertised memory in MiB, a number > 0
  --tags a,b         capability tags (e.g. llm,gpu); may be repeated
`,
  start: `usage: agentmesh start [flags]

Runs a relay, N Node peers and the demo page on this machine (what npm start runs).

  --nodes N          Node peers besides the relay, 0-${MAX_START_NODES} (default ${DEFAULT_START_NODES})
  --port N           the relay's libp2p port (default ${DEFAULT_START_PORT})
  --demo-port N      port of the demo page (default ${DEFAULT_START_DEMO_PORT})
  --host ADDR        address every process listens on (default ${DEFAULT_HOST})
  --mesh NAME        mesh namespace (default ${DEFAULT_MESH})
  --data DIR         one subdirectory per process (default: in memory)
`,
  keygen: `usage: agentmesh keygen [--out FILE]

Makes a mesh admin key pair: prints {"publicKey", "privateKey"|"privateKeyFile"} as JSON.
The public key is what peers take as --mesh-key; keep the private key secret.

  --out FILE         write the private key to FILE (mode 0600) instead of printing it
`,
  credential: `usage: agentmesh credential --admin-key FILE --peer PEER_ID [flags]

Signs a membership credential for a peer with the mesh admin key; prints it.

  --admin-key FILE   the private key from agentmesh keygen (or its text)
  --peer PEER_ID     the peer the credential is for
  --roles a,b        among voter, host, publisher (default: all three)
  --ttl-hours N      lifetime in hours (default 720)
  --mesh NAME        the mesh it is valid in (default ${DEFAULT_MESH})
`
}

const OVERVIEW = `usage: agentmesh <command> [flags]

commands:
  relay    run a relay (bootstrap point for Node peers and browser tabs)
  node     run a headless Node peer
  start    run a relay, N Node peers and the demo page
  keygen   make a mesh admin key pair (credentialed meshes)
  credential  sign a peer's membership credential with the admin key
  doctor   check that a running mesh is reachable from here (agentmesh doctor --help)
  help [command]

  -h, --help       show usage (of a command: agentmesh node --help)
  -V, --version    show the version

When ready, a process prints one line on stdout:
  agentmesh ready {"peerId":...,"multiaddrs":[...],"http":"http://..."}
SIGINT/SIGTERM stop it cleanly. Bad flags exit with code 2.
Debug logs: DEBUG='agentmesh:*'.
`

export function usage (topic?: CommandName): string {
  return topic === undefined ? OVERVIEW : COMMAND_USAGE[topic]
}
