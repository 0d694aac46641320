/** Defaults and limits of the command line (docs/API.md section 2). */

export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_HTTP_HOST = '127.0.0.1'
export const DEFAULT_MESH = 'agentmesh'

export const DEFAULT_RELAY_PORT = 9090
export const DEFAULT_RELAY_HTTP_PORT = 9091
export const DEFAULT_NODE_PORT = 0
export const DEFAULT_NODE_HTTP_PORT = 0

export const DEFAULT_START_NODES = 3
export const DEFAULT_START_PORT = 9090
export const DEFAULT_START_DEMO_PORT = 5173

export const MAX_PORT = 65535
export const MAX_START_NODES = 32
export const MAX_BOOTSTRAP_ADDRS = 64
export const MAX_MULTIADDR_CHARS = 1024
export const MAX_TAGS = 32
export const MAX_TAG_CHARS = 64
export const MAX_MESH_CHARS = 64
export const MAX_HOSTNAME_CHARS = 253
export const MAX_DATA_PATH_CHARS = 4096
export const MAX_CPU = 4096
export const MAX_MEMORY_MB = 16 * 1024 * 1024
/** anything longer is not a flag value anyone meant to type; keeps error lines short too */
export const MAX_FLAG_VALUE_CHARS = 64 * 1024
/** a quoted value in an error message is cut to this many characters */
export const MAX_QUOTED_VALUE_CHARS = 60

/** the line prefix a process prints on stdout once it is ready */
export const READY_PREFIX = 'agentmesh ready '
/** a ready line longer than this is refused (it carries a handful of addresses) */
export const MAX_READY_LINE_BYTES = 64 * 1024

/** how often a peer re-reads AGENTMESH_CLOCK_SKEW_FILE (fault injection) */
export const CLOCK_SKEW_POLL_MS = 200
/** a skew file holds one integer */
export const MAX_CLOCK_SKEW_FILE_BYTES = 64
