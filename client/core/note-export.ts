import { noteTitle } from './markdown.js'

/**
 * The notes of an export as Markdown files beside `space.json` (issue 9, rich notes), so an
 * export reads without Cove: `<title>.md`, named by the note's first heading or line, else its id.
 *
 * Names must survive every filesystem the ZIP is unpacked on: characters Windows forbids and
 * control characters become `_`, no leading dot (hidden) or trailing dot/space (dropped by
 * Windows), no reserved device names (`CON`, `NUL`, …), bounded length, and unique ignoring case
 * (macOS and Windows fold case, so `Plan.md` and `plan.md` would overwrite each other).
 */
const MAX_STEM = 60
const RESERVED = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])$/i

/** `s` as a filesystem-safe file stem (without extension); '' when nothing usable is left. */
export function safeStem (s: string): string {
  let t = s.normalize('NFC').replace(/[\\/:*?"<>|\u0000-\u001f\u007f]/g, '_').replace(/\s+/g, ' ').trim()
  t = t.replace(/^[.\s]+/, '')
  // Cut by code point so a surrogate pair is never split.
  t = Array.from(t).slice(0, MAX_STEM).join('').replace(/[.\s]+$/, '')
  if (RESERVED.test(t)) t += '_'
  return t
}

export interface NoteSource { readonly id: string; readonly text: string }

/**
 * The file name of each note (by id), unique ignoring case, none equal to a name in `taken`
 * (e.g. `space.json`). Same input, same names: an export made twice unpacks the same way.
 */
export function noteFileNames (notes: readonly NoteSource[], taken: readonly string[] = []): Map<string, string> {
  const used = new Set(taken.map(t => t.toLowerCase()))
  const out = new Map<string, string>()
  for (const n of notes) {
    const stem = safeStem(noteTitle(n.text)) || safeStem(`note ${n.id}`) || 'note'
    let name = `${stem}.md`
    for (let i = 2; used.has(name.toLowerCase()); i++) name = `${stem} (${i}).md`
    used.add(name.toLowerCase())
    out.set(n.id, name)
  }
  return out
}

/**
 * A note's Markdown for the export: `cove-file:` references point at the exported copies of the
 * files (`paths`, by file item id), so images show in any Markdown viewer; others stay as written.
 */
export function exportMarkdown (text: string, paths: ReadonlyMap<string, string>): string {
  return text.replace(/\]\(cove-file:([A-Za-z0-9_-]{1,64})\)/g, (whole, id: string) => {
    const p = paths.get(id)
    // In angle brackets: a file name may hold spaces or parentheses (CommonMark allows both there).
    return p === undefined || /[<>\n]/.test(p) ? whole : `](<${p}>)`
  })
}
