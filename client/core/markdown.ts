import { GFM, parser as baseParser } from '@lezer/markdown'
import type { SyntaxNode, Tree } from '@lezer/common'

/**
 * Notes are Markdown (issue 9, rich notes). A note is still the plain Y.Text it always was, so
 * notes written before are valid Markdown as they stand and nothing is migrated; this module reads
 * the structure out of that text for the places that cannot run an editor: `cove cat` (its JSON
 * gives each note's `blocks`) and the export (a note's title names its `.md` file). The web app's
 * editor parses the same text with the same grammar (@codemirror/lang-markdown wraps this parser),
 * so what the CLI reports as a heading or a task is what the browser draws as one.
 *
 * GFM is on: task lists (`- [ ]`, `- [x]`), strikethrough, tables, autolinks.
 */
export const markdownParser = baseParser.configure(GFM)

/** An image in a note; `file` is the space's file item id when it is a `cove-file:` reference. */
export interface ImageRef { readonly alt: string; readonly src: string; readonly file?: string }

/** One block of a note, with its text stripped of markup (what a reader sees). */
export type Block = (
  | { readonly type: 'heading'; readonly level: number; readonly text: string }
  | { readonly type: 'paragraph'; readonly text: string }
  | { readonly type: 'list-item'; readonly ordered: boolean; readonly depth: number; readonly text: string; readonly checked?: boolean }
  | { readonly type: 'code'; readonly lang: string; readonly text: string }
  | { readonly type: 'quote'; readonly text: string }
  | { readonly type: 'rule' }
  | { readonly type: 'table'; readonly text: string }
  | { readonly type: 'html'; readonly text: string }
) & { readonly images?: readonly ImageRef[] }

/**
 * How a note points at a file of its space: `![name](cove-file:<file item id>)`. The item (not
 * the blob) is named because the item holds the key and blob id inside the encrypted document:
 * the reference itself reveals nothing and stays valid wherever the note is synced.
 */
export const FILE_SCHEME = 'cove-file:'
const FILE_ID = /^cove-file:([A-Za-z0-9_-]{1,64})$/

/** The file item id a `cove-file:` URL names, if it is one. */
export function fileRef (url: string): string | undefined {
  return FILE_ID.exec(url.trim())?.[1]
}

/** Markup left out of a block's text: marks, and the URL part of links and images. */
const MARKS = new Set(['HeaderMark', 'EmphasisMark', 'CodeMark', 'LinkMark', 'LinkTitle', 'LinkLabel', 'QuoteMark', 'ListMark', 'TaskMarker', 'StrikethroughMark', 'SubscriptMark', 'SuperscriptMark'])

function isMark (n: SyntaxNode): boolean {
  if (MARKS.has(n.name)) return true
  return n.name === 'URL' && (n.parent?.name === 'Link' || n.parent?.name === 'Image')
}

/** The text of `node` without its markup, each line trimmed. */
export function plainText (src: string, node: SyntaxNode): string {
  let out = ''
  let at = node.from
  const cut = (n: SyntaxNode): void => {
    for (let c = n.firstChild; c !== null; c = c.nextSibling) {
      if (isMark(c)) {
        out += src.slice(at, c.from)
        at = c.to
      } else {
        cut(c)
      }
    }
  }
  cut(node)
  out += src.slice(at, node.to)
  return out.split('\n').map(l => l.trim()).filter(l => l !== '').join('\n')
}

function imagesIn (src: string, node: SyntaxNode): ImageRef[] {
  const found: ImageRef[] = []
  const walk = (n: SyntaxNode): void => {
    for (let c = n.firstChild; c !== null; c = c.nextSibling) {
      if (c.name === 'Image') {
        const url = c.getChild('URL')
        const s = url === null ? '' : src.slice(url.from, url.to)
        const file = fileRef(s)
        found.push({ alt: plainText(src, c), src: s, ...(file === undefined ? {} : { file }) })
      } else {
        walk(c)
      }
    }
  }
  walk(node)
  return found
}

/** A block with its images, if it has any. */
function withImages<B extends Block> (src: string, node: SyntaxNode, b: B): B {
  const images = imagesIn(src, node)
  return images.length === 0 ? b : { ...b, images }
}

const headingLevel = (name: string): number | undefined => {
  const m = /^(?:ATX|Setext)Heading([1-6])$/.exec(name)
  return m === null ? undefined : Number(m[1])
}

function dedent (s: string): string {
  return s.split('\n').map(l => l.replace(/^ {1,4}|^\t/, '')).join('\n')
}

function blocksOf (src: string, parent: SyntaxNode, depth: number, out: Block[]): void {
  for (let n = parent.firstChild; n !== null; n = n.nextSibling) block(src, n, depth, out)
}

function block (src: string, n: SyntaxNode, depth: number, out: Block[]): void {
  const level = headingLevel(n.name)
  if (level !== undefined) {
    out.push(withImages(src, n, { type: 'heading', level, text: plainText(src, n) }))
    return
  }
  switch (n.name) {
    case 'Paragraph': out.push(withImages(src, n, { type: 'paragraph', text: plainText(src, n) })); break
    case 'BulletList':
    case 'OrderedList':
      for (let li = n.firstChild; li !== null; li = li.nextSibling) if (li.name === 'ListItem') listItem(src, li, n.name === 'OrderedList', depth, out)
      break
    case 'FencedCode': {
      const info = n.getChild('CodeInfo')
      const body = n.getChild('CodeText')
      out.push({ type: 'code', lang: info === null ? '' : src.slice(info.from, info.to), text: body === null ? '' : src.slice(body.from, body.to) })
      break
    }
    case 'CodeBlock': out.push({ type: 'code', lang: '', text: dedent(src.slice(n.from, n.to)) }); break
    case 'Blockquote': out.push(withImages(src, n, { type: 'quote', text: plainText(src, n) })); break
    case 'HorizontalRule': out.push({ type: 'rule' }); break
    case 'Table': out.push({ type: 'table', text: src.slice(n.from, n.to) }); break
    case 'HTMLBlock': out.push({ type: 'html', text: src.slice(n.from, n.to) }); break
    default: break
  }
}

function listItem (src: string, li: SyntaxNode, ordered: boolean, depth: number, out: Block[]): void {
  const task = li.getChild('Task')
  const lead = task ?? li.getChild('Paragraph')
  const marker = task?.getChild('TaskMarker')
  const checked = marker === null || marker === undefined ? undefined : /x/i.test(src.slice(marker.from, marker.to))
  const text = lead === null ? '' : plainText(src, lead)
  out.push(withImages(src, lead ?? li, { type: 'list-item', ordered, depth, text, ...(checked === undefined ? {} : { checked }) }))
  // What else the item holds (a nested list, a code block) follows it, one level deeper.
  const rest: Block[] = []
  for (let c = li.firstChild; c !== null; c = c.nextSibling) {
    if (c.name === 'ListMark' || (lead !== null && c.from === lead.from)) continue
    block(src, c, depth + 1, rest)
  }
  out.push(...rest)
}

export function parseMarkdown (src: string): Tree {
  return markdownParser.parse(src)
}

/** The blocks of a note, in order: what `cove cat` reports as the note's structure. */
export function noteBlocks (src: string): Block[] {
  const out: Block[] = []
  blocksOf(src, parseMarkdown(src).topNode, 0, out)
  return out
}

/** A note's title for people: its first heading, else its first line of text; '' when empty. */
export function noteTitle (src: string): string {
  const blocks = noteBlocks(src)
  const first = blocks.find(b => b.type === 'heading') ?? blocks.find(b => 'text' in b && b.text !== '' && b.type !== 'code')
  const text = first !== undefined && 'text' in first ? first.text : ''
  return (text.split('\n')[0] ?? '').trim()
}
