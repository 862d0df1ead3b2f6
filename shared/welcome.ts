/**
 * Asking the relay for its `welcome` frame (PROTOCOL.md, Join): the connection's request carries
 * `welcome=1` in its query, so a relay (or a client) that predates it simply ignores the query
 * and both speak the handshake as before.
 */

/** `url` with `welcome=1` in its query; unchanged if it is not a URL. */
export function withWelcome (url: string): string {
  try {
    const u = new URL(url)
    u.searchParams.set('welcome', '1')
    return u.toString()
  } catch {
    return url
  }
}

/** Whether a connection's request path (or URL) asks for the `welcome` frame. */
export function asksWelcome (path: string | undefined): boolean {
  const q = path?.indexOf('?') ?? -1
  return q >= 0 && new URLSearchParams(path!.slice(q + 1)).get('welcome') === '1'
}
