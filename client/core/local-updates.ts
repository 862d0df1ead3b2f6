import type * as Y from 'yjs'

/**
 * Calls `f` with the update of every transaction on `doc` except those `skip` names by origin,
 * without making Yjs encode the skipped ones.
 *
 * Yjs encodes a transaction's update whenever the doc has any `'update'` listener, and only then
 * asks the listener about the origin. A space listens to send its own edits, so every remote
 * envelope it applied was encoded once more for nothing: for a 5 MB join snapshot that is a 5 MB
 * encode and its garbage (issue 10: a big space's cold join was mostly GC). Yjs emits
 * `afterTransactionCleanup` for a transaction right before it checks for `'update'` listeners for
 * that same transaction, with nothing in between, so the listener is attached there exactly for
 * the transactions that want it. Nested transactions (an observer's edit, Yjs's own formatting
 * cleanup after a remote change) each get their own cleanup, so each is judged by its own origin.
 *
 * Another `'update'` listener on the doc (the web app's tab sync) still makes Yjs encode every
 * transaction; `f` is called as before either way. Returns the unsubscribe.
 */
export function onLocalUpdates (doc: Y.Doc, skip: (origin: unknown) => boolean, f: (update: Uint8Array, origin: unknown) => void): () => void {
  let listening = false
  const update = (u: Uint8Array, origin: unknown): void => {
    if (!skip(origin)) f(u, origin)
  }
  const cleanup = (tr: Y.Transaction): void => {
    const want = !skip(tr.origin)
    if (want === listening) return
    listening = want
    if (want) doc.on('update', update)
    else doc.off('update', update)
  }
  doc.on('afterTransactionCleanup', cleanup)
  return () => {
    doc.off('afterTransactionCleanup', cleanup)
    if (listening) doc.off('update', update)
    listening = false
  }
}
