import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'

/**
 * A batch of this replica's own updates, encoded as the document holds them (DESIGN.md §3).
 *
 * Y.mergeUpdates keeps every keystroke its own item: 13,000 typed ops merge to 121 KB however they
 * are batched, while the document, which joins runs of typing into one item, holds the same
 * change in 23 KB (what the plaintext server's state-vector sync sends). A warm or cold joiner
 * reads the log, so the log is written in the document's form: the structs of the batch's clock
 * ranges as they sit in the store now (joined runs; content deleted within the batch already
 * reduced), plus the batch's own deletions. Replicas integrate it exactly as the separate
 * updates: the same ids, origins and deletions. A struct of the batch that someone else deleted
 * meanwhile makes it fall back: its form in the store would carry another member's deletion (or a
 * hostile member's forged one) in this replica's signed envelope (hostile convergence runs
 * diverged 3 times in 600).
 *
 * Returns undefined when the batch cannot be taken from the store as is (a struct reaching past
 * the batch, a client the store lacks, a gap): the caller merges the updates instead.
 */
export function compactLocal (doc: Y.Doc, updates: readonly Uint8Array[]): Uint8Array | undefined {
  const from = new Map<number, number>()
  const to = new Map<number, number>()
  const deletes: ReturnType<typeof Y.decodeUpdate>['ds'][] = []
  try {
    for (const u of updates) {
      const d = Y.decodeUpdate(u)
      for (const s of d.structs) {
        if (!(s instanceof Y.Item) && !(s instanceof Y.GC)) return undefined
        const c = s.id.client
        const end = s.id.clock + s.length
        if (!from.has(c)) { from.set(c, s.id.clock); to.set(c, end); continue }
        // Own updates follow one another: each starts where the one before ended.
        if (s.id.clock !== to.get(c)) return undefined
        to.set(c, end)
      }
      deletes.push(d.ds)
    }
    const ds = Y.mergeDeleteSets(deletes)
    const enc = new Y.UpdateEncoderV1()
    const clients = [...from.keys()].sort((a, b) => b - a)
    encoding.writeVarUint(enc.restEncoder, clients.length)
    for (const client of clients) {
      const start = from.get(client) as number
      const end = to.get(client) as number
      const structs = doc.store.clients.get(client)
      if (structs === undefined) return undefined
      // Throws when the store lacks `start`: caught below, and the caller merges instead.
      const first = Y.findIndexSS(structs, start)
      let last = first
      while (last + 1 < structs.length && (structs[last + 1] as Y.Item | Y.GC).id.clock < end) last++
      const tail = structs[last] as Y.Item | Y.GC
      if (tail.id.clock + tail.length !== end) return undefined
      encoding.writeVarUint(enc.restEncoder, last - first + 1)
      enc.writeClient(client)
      encoding.writeVarUint(enc.restEncoder, start)
      for (let i = first; i <= last; i++) {
        const s = structs[i] as Y.Item | Y.GC
        const offset = i === first ? start - s.id.clock : 0
        // Deleted here by someone else (a concurrent map value that won, a parent removed, a
        // forged deletion): the store's form would carry their deletion as this replica's.
        if (s.deleted && !covered(ds, client, s.id.clock + offset, s.id.clock + s.length)) return undefined
        s.write(enc, offset)
      }
    }
    writeDeleteSet(enc, ds)
    return enc.toUint8Array()
  } catch {
    return undefined
  }
}

/** The batch's own deletions cover clocks [from, to) of `client` (a merged, sorted delete set). */
function covered (ds: ReturnType<typeof Y.decodeUpdate>['ds'], client: number, from: number, to: number): boolean {
  for (const d of ds.clients.get(client) ?? []) {
    if (d.clock <= from && from < d.clock + d.len) return to <= d.clock + d.len
  }
  return false
}

/** Yjs's V1 delete-set encoding (not exported by yjs 13). */
function writeDeleteSet (enc: Y.UpdateEncoderV1, ds: ReturnType<typeof Y.decodeUpdate>['ds']): void {
  encoding.writeVarUint(enc.restEncoder, ds.clients.size)
  for (const [client, items] of [...ds.clients.entries()].sort((a, b) => b[0] - a[0])) {
    enc.resetDsCurVal()
    encoding.writeVarUint(enc.restEncoder, client)
    encoding.writeVarUint(enc.restEncoder, items.length)
    for (const item of items) {
      enc.writeDsClock(item.clock)
      enc.writeDsLen(item.len)
    }
  }
}
