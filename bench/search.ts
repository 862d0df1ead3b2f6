/**
 * Search (issue 9): index build and query time for a space of 10,000 items (notes, links,
 * checklists, files) of pseudo-words from a seeded generator, so runs compare. Queries mix a
 * short prefix (as typed), a whole word, and two words; "after a keystroke" edits a note first,
 * so the query includes re-indexing the dirty item. Prints medians and p95 in ms.
 *
 *   npx tsx bench/search.ts [--items 10000]
 */
import * as Y from 'yjs'
import * as model from '../client/core/model.js'
import * as search from '../client/core/search.js'

const arg = process.argv.indexOf('--items')
const N = arg > 0 ? Number(process.argv[arg + 1]) : 10_000
let seed = 42
const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!
const SYL = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 've', 'zi', 'bo', 'da', 'fe', 'gu', 'ho', 'ji', 'pa', 'qu', 'ti']
const VOCAB = Array.from({ length: 20_000 }, () => Array.from({ length: 2 + Math.floor(rand() * 3) }, () => pick(SYL)).join(''))
const words = (n: number): string => Array.from({ length: n }, () => pick(VOCAB)).join(' ')

const doc = new Y.Doc()
doc.transact(() => {
  for (let i = 0; i < N; i++) {
    const k = i % 10
    if (k < 6) model.addNote(doc, words(20 + Math.floor(rand() * 100)))
    else if (k < 8) model.addLink(doc, `https://${pick(VOCAB)}.example/${pick(VOCAB)}`, words(4), words(10))
    else if (k < 9) {
      const id = model.addChecklist(doc, words(3))
      for (let j = 0; j < 5; j++) model.addTodo(doc, words(5), model.findItem(doc, id))
    } else model.addFile(doc, { name: `${pick(VOCAB)}-${pick(VOCAB)}.jpg`, size: 1, mime: 'image/jpeg', blob: 'b', key: 'k', chunk: 1 })
  }
})

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!
const ms = (f: () => void): number => { const t = performance.now(); f(); return performance.now() - t }

let idx: search.SearchIndex | undefined
const builds: number[] = []
for (let i = 0; i < 3; i++) { idx?.destroy(); builds.push(ms(() => { idx = search.createIndex(doc) })) }
const index = idx!
const queries = Array.from({ length: 300 }, (_, i) => {
  const w = pick(VOCAB)
  return i % 3 === 0 ? w.slice(0, 2) : i % 3 === 1 ? w : `${pick(VOCAB)} ${w.slice(0, 3)}`
})
for (const q of queries.slice(0, 30)) index.query(q) // warm-up
const times = queries.map(q => ms(() => index.query(q)))
const notes = model.orderedItems(doc).filter(m => m.get('kind') === 'note')
const typed = queries.slice(0, 100).map(q => {
  const t = pick(notes).get('text') as Y.Text
  t.insert(0, 'x')
  return ms(() => index.query(q))
})
console.log(`search over ${N} items (${index.size()} indexed): build ${median(builds).toFixed(0)} ms (median of 3)`)
console.log(`query: median ${median(times).toFixed(2)} ms, p95 ${p95(times).toFixed(2)} ms over ${times.length} queries (top 50 hits)`)
console.log(`query after a keystroke in a note: median ${median(typed).toFixed(2)} ms, p95 ${p95(typed).toFixed(2)} ms`)
