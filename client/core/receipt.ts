import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { err, ok, type Result } from '../../shared/errors.js'
import { HASH_BYTES, PK_BYTES, STREAM_BYTES } from '../../shared/header.js'

/**
 * The plaintext of a receipt envelope (DESIGN.md §7, PROTOCOL.md "Receipts"): what one device says
 * it holds, signed by it. Others compare it with what the relay gave them: a head they lack was
 * withheld from them, another hash at one position is a fork, and their own envelopes it names have
 * reached someone (they may leave the outbox).
 *
 *   receipt := varUint(1) • varUint(atMs) • u8(hasSnapshot) • [varUint(snapSeq) • hash(32)]
 *              • varUint(n) • n × (author(32) • stream(8) • varUint(seq) • u8(hasHash) • [hash(32)])
 */
export interface ReceiptHead {
  readonly author: Uint8Array
  readonly stream: Uint8Array
  readonly seq: number
  /** Empty when the sender keeps only the position (an idle stream folded into a snapshot). */
  readonly hash: Uint8Array
}

export interface ReceiptBody {
  /** When it was sealed (the sender's clock, ms): the newest of a device wins, older ones are replays. */
  readonly at: number
  readonly snapshot: { readonly seq: number; readonly hash: Uint8Array } | undefined
  readonly heads: readonly ReceiptHead[]
}

/** The heads one receipt may name; a device names its most recent ones first. */
export const MAX_RECEIPT_HEADS = 512
/** The stream id receipts are sealed under (their seq is a counter, not a chain). */
export const RECEIPT_STREAM = new Uint8Array(STREAM_BYTES).fill(0xfe)

export function writeReceipt (b: ReceiptBody): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, b.at)
  if (b.snapshot === undefined) encoding.writeUint8(e, 0)
  else {
    encoding.writeUint8(e, 1)
    encoding.writeVarUint(e, b.snapshot.seq)
    encoding.writeUint8Array(e, b.snapshot.hash)
  }
  const heads = b.heads.slice(0, MAX_RECEIPT_HEADS)
  encoding.writeVarUint(e, heads.length)
  for (const h of heads) {
    encoding.writeUint8Array(e, h.author)
    encoding.writeUint8Array(e, h.stream)
    encoding.writeVarUint(e, h.seq)
    encoding.writeUint8(e, h.hash.length === HASH_BYTES ? 1 : 0)
    if (h.hash.length === HASH_BYTES) encoding.writeUint8Array(e, h.hash)
  }
  return encoding.toUint8Array(e)
}

export function readReceipt (plain: Uint8Array): Result<ReceiptBody, 'receipt/malformed'> {
  try {
    const d = decoding.createDecoder(plain)
    if (decoding.readVarUint(d) !== 1) return err('receipt/malformed', 'unknown receipt version')
    const at = decoding.readVarUint(d)
    const flag = decoding.readUint8(d)
    if (flag > 1) return err('receipt/malformed', 'bad snapshot flag')
    const snapshot = flag === 1 ? { seq: decoding.readVarUint(d), hash: bytes(d, HASH_BYTES) } : undefined
    const n = decoding.readVarUint(d)
    if (n > MAX_RECEIPT_HEADS) return err('receipt/malformed', `more than ${MAX_RECEIPT_HEADS} heads`)
    const heads: ReceiptHead[] = []
    for (let i = 0; i < n; i++) {
      const author = bytes(d, PK_BYTES)
      const stream = bytes(d, STREAM_BYTES)
      const seq = decoding.readVarUint(d)
      const has = decoding.readUint8(d)
      if (has > 1) return err('receipt/malformed', 'bad hash flag')
      heads.push({ author, stream, seq, hash: has === 1 ? bytes(d, HASH_BYTES) : new Uint8Array(0) })
    }
    if (decoding.hasContent(d)) return err('receipt/malformed', 'trailing bytes')
    return ok({ at, snapshot, heads })
  } catch {
    return err('receipt/malformed', 'receipt is cut short')
  }
}

function bytes (d: decoding.Decoder, n: number): Uint8Array {
  if (d.arr.length - d.pos < n) throw new Error('short')
  return decoding.readUint8Array(d, n).slice()
}
