import { createSignal } from 'solid-js'

/**
 * Which page is shown, kept in the URL fragment (`#/s/<spaceId hex>`), which is never sent to the
 * server. An invite key also arrives in the fragment (`#edit1.…` / `#view1.…`): App reads it,
 * stores it, and replaces the address with the space's page address, so the key does not stay
 * in the address bar, in history, or in a bookmark.
 */
export type Route = { readonly page: 'list' } | { readonly page: 'space'; readonly id: string }

export function parseRoute (hash: string): Route {
  const m = /^#\/s\/([0-9a-f]{32})$/.exec(hash)
  return m === null ? { page: 'list' } : { page: 'space', id: m[1]! }
}

/** True when the fragment holds an invite key rather than a page address. */
export const isInvite = (hash: string): boolean => /^#(edit1|view1)\./.test(hash)

const [route, setRoute] = createSignal<Route>(parseRoute(typeof location === 'undefined' ? '' : location.hash))
export { route }

const sameRoute = (a: Route, b: Route): boolean => a.page === b.page && (a.page === 'list' || (b.page === 'space' && a.id === b.id))

/** Shows a page; `replace` rewrites the current history entry instead of adding one. */
export function go (r: Route, replace = false): void {
  const hash = r.page === 'list' ? '#/' : `#/s/${r.id}`
  if (replace) history.replaceState(null, '', `${location.pathname}${hash}`)
  else history.pushState(null, '', `${location.pathname}${hash}`)
  setRoute(r)
}

/** Follows back/forward and hand-edited addresses. */
export function listen (onInvite: (hash: string) => void): () => void {
  const on = (): void => {
    if (isInvite(location.hash)) onInvite(location.hash)
    else {
      // One change of address fires both `popstate` and `hashchange`: a second identical route
      // would open the space twice (and say "Unknown space" twice). `go` still always sets one,
      // so an upgraded link for the open space reopens it.
      const next = parseRoute(location.hash)
      if (!sameRoute(route(), next)) setRoute(next)
    }
  }
  addEventListener('hashchange', on)
  addEventListener('popstate', on)
  return () => { removeEventListener('hashchange', on); removeEventListener('popstate', on) }
}
