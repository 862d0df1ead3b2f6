import { EditorView } from '@codemirror/view'
import { PALETTE_SIZE } from '../../core/presence.js'

/**
 * The editor's styles. CodeMirror injects its styles with style-mod, which writes a <style>
 * element when mounted in the document (blocked by the app's `style-src 'self'`) but a
 * constructed, adopted stylesheet inside a shadow root (which CSP does not restrict, since no
 * markup is parsed). So each editor lives in a shadow root, and everything it needs, palette
 * classes included, is declared here rather than in styles.css. Custom properties (--c0 … --c7,
 * --line, …) still inherit from the page into the shadow tree.
 */
const palette: Record<string, { '--c': string }> = {}
for (let i = 0; i < PALETTE_SIZE; i++) palette[`.cove-c${i}`] = { '--c': `var(--c${i})` }

export const coveTheme = EditorView.theme({
  '&': { border: '1px solid var(--line)', borderRadius: '6px', minHeight: '4.5rem', background: 'var(--card)', color: 'var(--fg)' },
  '&.cm-focused': { outline: '2px solid var(--accent)' },
  // Notes are Markdown read as prose (editor/markdown-theme.ts keeps code monospace).
  '.cm-content': { fontFamily: 'system-ui, -apple-system, "Segoe UI", sans-serif', fontSize: '.95rem', lineHeight: '1.5', padding: '.5rem', caretColor: 'var(--fg)' },
  '.cm-cursor': { borderLeftColor: 'var(--fg)' },
  ...palette,
  '.cm-remote-sel': { background: 'color-mix(in srgb, var(--c) 25%, transparent)' },
  '.cm-remote-caret': { position: 'relative', borderLeft: '2px solid var(--c)', marginLeft: '-1px', marginRight: '-1px' },
  '.cm-remote-name': {
    position: 'absolute', top: '-1.25em', left: '-2px', font: '600 .7rem/1.2 system-ui, sans-serif', color: '#fff',
    background: 'var(--c)', padding: '0 .25em', borderRadius: '3px 3px 3px 0', whiteSpace: 'nowrap', userSelect: 'none', pointerEvents: 'none'
  },
  // On the first line the label goes below the caret: above it would be cut off by the scroller.
  '.cm-remote-below .cm-remote-name': { top: '100%', borderRadius: '0 3px 3px 3px' },
  // The scroller fills the editor's height, so a label below a one-line note's line still fits.
  '.cm-scroller': { minHeight: 'calc(4.5rem - 2px)' }
})
