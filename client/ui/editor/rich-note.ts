import { markdownKeymap, markdownLanguage } from '@codemirror/lang-markdown'
import { LanguageSupport } from '@codemirror/language'
import { Prec, type Extension } from '@codemirror/state'
import { keymap } from '@codemirror/view'
import type * as Y from 'yjs'
import { markdownCommands } from './markdown-commands.js'
import { markdownPreview } from './markdown-preview.js'
import { markdownTheme } from './markdown-theme.js'
import { imageSource, type ImageSource } from './markdown-widgets.js'
import { pasteImages, type AddImage } from './paste-images.js'

/**
 * Everything that makes a note's editor a rich note (issue 9): CodeMirror's Markdown language
 * (GFM: task lists, strikethrough, tables) with live preview, Markdown-aware Enter and Backspace
 * (a new line continues a list or a task), bold/italic keys, Ctrl/⌘+click on links, and pasted
 * or dropped images kept as files of the space.
 *
 * Markdown in CodeMirror was chosen over a block editor because a note already is a Y.Text shown
 * by CodeMirror through y-codemirror.next: every note written before is valid Markdown as it
 * stands (no migration, nothing for older clients to misread), and collaborative cursors, merging
 * and per-person undo keep working exactly as they did. The text stays the single source; what
 * looks rich is only decoration.
 */
export interface RichNoteOptions {
  readonly text: Y.Text
  readonly images?: ImageSource
  /** Adds a pasted image as a file of the space; absent for a view-only reader. */
  readonly addImage?: AddImage
}

export function richNote (opts: RichNoteOptions): Extension {
  return [
    // The language and its keymap, not markdown(): that adds HTML parsing inside notes and tag
    // completion (pop-ups), which notes do not want, and leaves lang-html out of the bundle.
    new LanguageSupport(markdownLanguage),
    Prec.high(keymap.of(markdownKeymap)),
    markdownPreview,
    markdownCommands,
    markdownTheme,
    opts.images === undefined ? [] : imageSource.of(opts.images),
    opts.addImage === undefined ? [] : pasteImages(opts.text, opts.addImage)
  ]
}
