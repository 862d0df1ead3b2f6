import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { err, ok, type Result } from '../../shared/errors.js'

/**
 * Checks on decrypted content before it may touch the live document (DESIGN.md §6).
 *
 * The plaintext of an update envelope is a batch of Yjs updates, optionally followed by the
 * streams its author has ended (when a session abandons its stream, the first envelope of the new
 * one says where the old one stopped, so a reader that missed that stream's tail asks for it):
 *   batch := varUint(n ≥ 1) • n × varBytes(yjsUpdateV1) • [u8(0xE5) • varUint(m ≥ 1) • m × (stream(8) • varUint(lastSeq))]
 */
const ENDED_TAG = 0xe5
export interface EndedStream { readonly stream: Uint8Array; readonly seq: number }
export const MAX_UPDATES_PER_BATCH = 100_000

export function writeBatch (updates: readonly Uint8Array[], ended: readonly EndedStream[] = []): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, updates.length)
  for (const u of updates) encoding.writeVarUint8Array(e, u)
  if (ended.length > 0) {
    encoding.writeUint8(e, ENDED_TAG)
    encoding.writeVarUint(e, ended.length)
    for (const x of ended) { encoding.writeUint8Array(e, x.stream); encoding.writeVarUint(e, x.seq) }
  }
  return encoding.toUint8Array(e)
}

export type ApplyErrorCode = 'apply/malformed-batch' | 'apply/malformed-update' | 'apply/clientid-taken'

export function readBatch (plain: Uint8Array): Result<Uint8Array[], ApplyErrorCode> {
  const r = readBatchFull(plain)
  return r.ok ? ok(r.value.updates) : r
}

/** A session ends a handful of streams at most; a member naming more is not asked after for each. */
const MAX_ENDED = 16

export function readBatchFull (plain: Uint8Array): Result<{ updates: Uint8Array[]; ended: EndedStream[] }, ApplyErrorCode> {
  try {
    const d = decoding.createDecoder(plain)
    const n = decoding.readVarUint(d)
    if (n === 0 || n > MAX_UPDATES_PER_BATCH) return err('apply/malformed-batch', `batch of ${n} updates`)
    const out: Uint8Array[] = []
    for (let i = 0; i < n; i++) {
      const len = decoding.readVarUint(d)
      if (len > d.arr.length - d.pos) return err('apply/malformed-batch', 'update length past the end')
      out.push(decoding.readUint8Array(d, len))
    }
    const ended: EndedStream[] = []
    if (d.pos < d.arr.length) {
      if (decoding.readUint8(d) !== ENDED_TAG) return err('apply/malformed-batch', 'trailing bytes after the batch')
      const m = decoding.readVarUint(d)
      if (m === 0 || m > MAX_ENDED) return err('apply/malformed-batch', `${m} ended streams`)
      for (let i = 0; i < m; i++) {
        if (d.arr.length - d.pos < 8) return err('apply/malformed-batch', 'ended stream past the end')
        ended.push({ stream: decoding.readUint8Array(d, 8).slice(), seq: decoding.readVarUint(d) })
      }
    }
    if (d.pos !== d.arr.length) return err('apply/malformed-batch', 'trailing bytes after the batch')
    return ok({ updates: out, ended })
  } catch {
    return err('apply/malformed-batch', 'batch cannot be decoded')
  }
}

/**
 * Yjs clientID binding: a member could write structs under another device's clientID and make
 * replicas diverge for good. Each clientID belongs to the first device key seen writing it.
 * Returns the clientIDs this batch writes, or an error naming the one it may not write.
 * Deletions are not bound: any writer may delete any content.
 */
export function checkBindings (updates: readonly Uint8Array[], author: string, bindings: ReadonlyMap<number, string>): Result<number[], ApplyErrorCode> {
  const written = new Set<number>()
  for (const u of updates) {
    let meta: { from: Map<number, number> }
    try {
      meta = Y.parseUpdateMeta(u)
    } catch {
      return err('apply/malformed-update', 'update cannot be parsed')
    }
    for (const client of meta.from.keys()) {
      // Yjs clientIDs are 32-bit; a larger one integrates but no snapshot can carry its binding.
      if (client > 0xffffffff) return err('apply/malformed-update', `clientID ${client} is not a 32-bit value`)
      const owner = bindings.get(client)
      if (owner !== undefined && owner !== author) return err('apply/clientid-taken', `clientID ${client} belongs to another device`)
      written.add(client)
    }
  }
  return ok([...written])
}

/**
 * Some malformed updates throw half-way through integration and leave a live doc partly changed.
 * Decode each update fully, then integrate the batch into a scratch document first; only a batch
 * that integrates there cleanly reaches the live doc.
 *
 * The scratch doc starts empty (copying a large live doc for every envelope would cost ~100 ms for
 * the editing trace): structs whose dependencies the live doc has become pending there, so that
 * part of integration is exercised on the live doc, inside the caller's try/catch.
 */
export function scratchApply (updates: readonly Uint8Array[]): Result<void, ApplyErrorCode> {
  try {
    for (const u of updates) Y.decodeUpdate(u)
    // A fixed guid: a fresh Y.Doc otherwise draws a uuid from the system RNG (~60 µs) per envelope.
    const scratch = new Y.Doc({ gc: false, guid: 'scratch' })
    Y.transact(scratch, () => {
      for (const u of updates) Y.applyUpdate(scratch, u)
    })
    scratch.destroy()
    return ok(undefined)
  } catch (e) {
    return err('apply/malformed-update', `update does not integrate: ${e instanceof Error ? e.message : String(e)}`)
  }
}
