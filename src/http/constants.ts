/** Limits and defaults of the HTTP admin server. */

/** largest JSON request body accepted; larger ones get 413 without being read to the end */
export const MAX_JSON_BODY_BYTES = 1024 * 1024
/** request line + path + query longer than this gets 414-style 400 */
export const MAX_URL_CHARS = 8 * 1024
/** time allowed to receive a whole request (headers and body); Node answers 408 after it */
export const REQUEST_TIMEOUT_MS = 30_000
/** time allowed to receive the request headers */
export const HEADERS_TIMEOUT_MS = 10_000
/** idle keep-alive connections are closed after this */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000
/** open sockets at most; further connections are refused by Node */
export const MAX_CONNECTIONS = 1024
/** concurrently open Server-Sent Events streams at most; more get 503 */
export const MAX_SSE_STREAMS = 256
/** a comment line is sent this often on an idle SSE stream so proxies and clients keep it open */
export const SSE_HEARTBEAT_INTERVAL_MS = 15_000
/** the client's reconnect delay announced with `retry:` at the start of an SSE stream */
export const SSE_RETRY_MS = 2_000
/** an SSE client this far behind (bytes queued in the socket) is disconnected */
export const MAX_SSE_BUFFERED_BYTES = 1024 * 1024
/**
 * A request whose handler has not answered by then gets 504 TimeoutError (its req.signal fires).
 * Above the longest RPC a client may ask for (`timeoutMs` of POST /agents/:id/messages).
 */
export const HANDLER_TIMEOUT_MS = 120_000
/** on close(), in-flight handlers get this long to finish before their sockets are destroyed */
export const CLOSE_GRACE_MS = 2_000
/** the content type Prometheus scrapes */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
