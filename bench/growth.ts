/**
 * Issue 10, "snapshot cost flat in document size": what a writer uploads per keystroke once the
 * document is already large. The room is filled with the first `size` trace ops at full speed
 * (by one writer, while a second client follows), then the same writer types the next
 * `keystrokes` ops one every `paceMs` (human pace: one op per envelope) and its upload during that
 * stretch, snapshots included, is divided by the keystrokes. Run against every system with the same
 * ops and pacing; the reader must end with the reference text.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { connectSynced, destroyAll, untilText, withServer, writeOps } from './measure.js'
import type { BenchSystem } from './system.js'
import { applyOp, finalText, loadTrace, type Op } from './trace.js'

export interface GrowthResult {
  /** Trace ops in the room before the measured keystrokes. */
  size: number
  keystrokes: number
  paceMs: number
  /** Writer payload bytes sent per measured keystroke (snapshots included). */
  uploadBytesPerKeystroke: number
}

/** One row per size in `sizes` (ops already in the room). */
export async function uploadGrowth (system: BenchSystem, sizes: readonly number[], keystrokes: number, paceMs: number): Promise<GrowthResult[]> {
  const trace = loadTrace()
  const out: GrowthResult[] = []
  for (const size of sizes) {
    if (size + keystrokes > trace.length) throw new Error(`the trace has ${trace.length} ops, not ${size + keystrokes}`)
    const before = trace.slice(0, size)
    const typed = trace.slice(size, size + keystrokes)
    out.push(await withServer(system, async server => {
      const room = await system.createRoom(server)
      const [writer, reader] = await connectSynced(system, server, room, 2)
      if (writer === undefined || reader === undefined) throw new Error('two clients expected')
      try {
        await writeOps(writer, before, 100)
        await untilText(reader, finalText(before), `reader receiving the first ${size} ops`)
        // Let the fill's own snapshots and acks settle, so only the keystrokes are counted.
        await sleep(1500)
        const sent0 = writer.wire().sent
        const t0 = performance.now()
        typed.forEach((op: Op, i) => {
          void sleep(Math.max(0, t0 + i * paceMs - performance.now())).then(() => writer.doc.transact(() => applyOp(writer.text, op)))
        })
        await sleep(keystrokes * paceMs + 50)
        await untilText(reader, finalText([...before, ...typed]), 'reader receiving the keystrokes')
        return { size, keystrokes, paceMs, uploadBytesPerKeystroke: (writer.wire().sent - sent0) / keystrokes }
      } finally {
        await destroyAll([writer, reader])
      }
    }))
  }
  return out
}
