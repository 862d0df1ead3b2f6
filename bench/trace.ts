/**
 * The editing trace both benchmarked systems replay: Martin Kleppmann's automerge-perf keystroke
 * history (259,778 single-character ops, CC BY 4.0, see bench/data/README.md).
 *
 * A real keystroke history is used instead of synthetic edits because CRDT update sizes, merge
 * behaviour and deletion patterns depend heavily on where edits land.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import type * as Y from 'yjs'

/** One trace op: delete `deleteCount` UTF-16 units at `pos`, then insert `insert` at `pos`. */
export type Op = readonly [pos: number, deleteCount: number, insert: string]

/** Number of ops in the full trace (checked on load so a truncated copy fails loudly). */
export const TRACE_OPS = 259_778

/** sha256 (hex) of the text obtained by replaying the whole trace, from bench/data/README.md. */
export const TRACE_FINAL_SHA256 = 'a489e9022976c14e46627aea174d07797edcb3fd17df42605956d4cf01bf9039'

const DATA_DIR = new URL('./data/', import.meta.url)

let cached: Op[] | undefined

/** Reads the trace file; accepts a gzipped copy in case the file was ever compressed. */
function readTraceJson (): string {
  try {
    return readFileSync(new URL('editing-trace.json', DATA_DIR), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return gunzipSync(readFileSync(new URL('editing-trace.json.gz', DATA_DIR))).toString('utf8')
  }
}

function isOp (v: unknown): v is Op {
  return Array.isArray(v) && v.length === 3 &&
    Number.isInteger(v[0]) && Number.isInteger(v[1]) && typeof v[2] === 'string'
}

/**
 * Loads (once, then cached) and validates the full editing trace from bench/data.
 * Callers slice it themselves; the returned array must not be mutated.
 */
export function loadTrace (): readonly Op[] {
  if (cached !== undefined) return cached
  const parsed: unknown = JSON.parse(readTraceJson())
  if (!Array.isArray(parsed) || parsed.length !== TRACE_OPS) {
    throw new Error(`editing trace: expected an array of ${TRACE_OPS} ops`)
  }
  parsed.forEach((op, i) => {
    if (!isOp(op)) throw new Error(`editing trace: op ${i} is malformed: ${JSON.stringify(op)}`)
  })
  cached = parsed as Op[]
  return cached
}

/** Applies one trace op to a Y.Text (the caller decides on the surrounding transaction). */
export function applyOp (text: Y.Text, op: Op): void {
  const [pos, deleteCount, insert] = op
  if (deleteCount > 0) text.delete(pos, deleteCount)
  if (insert.length > 0) text.insert(pos, insert)
}

/**
 * Replays ops on a plain string: the independent reference every benchmark compares against, so a
 * system that is fast but wrong fails instead of producing a number.
 */
export function finalText (ops: readonly Op[]): string {
  let s = ''
  for (const [pos, deleteCount, insert] of ops) {
    s = s.slice(0, pos) + insert + s.slice(pos + deleteCount)
  }
  return s
}

/** Throws unless replaying the whole trace yields the documented text (guards the data copy). */
export function checkTrace (): void {
  const digest = createHash('sha256').update(finalText(loadTrace())).digest('hex')
  if (digest !== TRACE_FINAL_SHA256) {
    throw new Error(`editing trace: final text sha256 ${digest} != ${TRACE_FINAL_SHA256}`)
  }
}
