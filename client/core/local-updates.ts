import type * as Y from 'yjs'

/** lib0's Observable keeps its listeners here, per event name, in the order they were added. */
type Observers = Map<string, Set<unknown>>

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
 * The listener is only ever taken off while it is the doc's only one (with another, Yjs encodes
 * every update anyway), and put back first in line: Yjs stops calling listeners at the first that
 * throws, and a throwing listener of the app's must not cost an own edit. Where lib0's listener
 * table is not what this expects, the listener simply stays on. Returns the unsubscribe.
 */
export function onLocalUpdates (doc: Y.Doc, skip: (origin: unknown) => boolean, f: (update: Uint8Array, origin: unknown) => void): () => void {
  const update = (u: Uint8Array, origin: unknown): void => {
    if (!skip(origin)) f(u, origin)
  }
  const table = (doc as unknown as { _observers?: unknown })._observers
  const observers = table instanceof Map ? table as Observers : undefined
  let listening = true
  doc.on('update', update)
  const cleanup = (tr: Y.Transaction): void => {
    if (observers === undefined) return
    const want = !skip(tr.origin)
    if (want === listening) return
    const set = observers.get('update')
    if (!want) {
      // Off only while alone: with others, Yjs encodes the update anyway.
      if (set === undefined || set.size !== 1 || !set.has(update)) return
      doc.off('update', update)
      listening = false
      return
    }
    doc.on('update', update)
    listening = true
    // First in line again, as when it was added before every other listener.
    const now = observers.get('update')
    if (now instanceof Set && now.size > 1) observers.set('update', new Set([update, ...[...now].filter(x => x !== update)]))
  }
  doc.on('afterTransactionCleanup', cleanup)
  return () => {
    doc.off('afterTransactionCleanup', cleanup)
    if (listening) doc.off('update', update)
    listening = false
  }
}
