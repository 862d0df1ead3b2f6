import { equalBytes } from '../../shared/bytes.js'
import type { AppendEntry, AppendErrorCode, StreamHead } from './port.js'

const ZERO = new Uint8Array(32)

export type ChainVerdict =
  | { readonly kind: 'append' }
  | { readonly kind: 'existing' }
  | { readonly kind: 'reject'; readonly code: AppendErrorCode; readonly message: string }

/**
 * The stream-chain rule every backend applies inside its own transaction, written once.
 * `existingHash` is the hash stored at (author, stream, seq) if that row is still present.
 */
export function judge (head: StreamHead | undefined, e: AppendEntry, existingHash: Uint8Array | undefined): ChainVerdict {
  if (head !== undefined && e.seq <= head.seq) {
    if (existingHash === undefined) return { kind: 'reject', code: 'store/pruned', message: `seq ${e.seq} is below the stream head and was pruned` }
    if (equalBytes(existingHash, e.hash)) return { kind: 'existing' }
    return { kind: 'reject', code: 'store/equivocation', message: `another envelope already holds seq ${e.seq} of this stream` }
  }
  const expected = head === undefined ? 0 : head.seq + 1
  if (e.seq !== expected) return { kind: 'reject', code: 'store/seq-gap', message: `seq ${e.seq} does not follow ${expected - 1}` }
  const prev = head === undefined ? ZERO : head.hash
  if (!equalBytes(prev, e.prevHash)) return { kind: 'reject', code: 'store/chain-mismatch', message: 'prevHash does not match the stream head' }
  return { kind: 'append' }
}

/**
 * The log quota (port.ts `append`), applied after `judge` by every backend: a duplicate always
 * passes (a resend after a lost ack), anything else that would take the space's log past
 * `maxLogBytes` is refused, whatever the chain says, so the writer keeps it and waits.
 */
export function withQuota (v: ChainVerdict, logBytes: number, e: AppendEntry, maxLogBytes: number | undefined): ChainVerdict {
  if (v.kind === 'existing' || maxLogBytes === undefined || logBytes + e.envelope.length <= maxLogBytes) return v
  return { kind: 'reject', code: 'store/quota', message: `the space's log would pass its quota of ${maxLogBytes} bytes` }
}
