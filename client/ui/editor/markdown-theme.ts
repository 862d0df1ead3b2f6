import { EditorView } from '@codemirror/view'

/**
 * How a Markdown note looks (classes set by markdown-preview.ts). Declared as an editor theme,
 * not in styles.css, for the reason given in theme.ts: the editor lives in a shadow root.
 * Notes read as prose (proportional font); code, inline and fenced, stays monospace.
 */
const MONO = 'ui-monospace, SFMono-Regular, Menlo, monospace'

export const markdownTheme = EditorView.theme({
  '.cm-md-h': { fontWeight: '700', lineHeight: '1.3' },
  '.cm-md-h1': { fontSize: '1.6em' },
  '.cm-md-h2': { fontSize: '1.35em' },
  '.cm-md-h3': { fontSize: '1.15em' },
  '.cm-md-h4, .cm-md-h5, .cm-md-h6': { fontSize: '1em' },
  '.cm-md-strong': { fontWeight: '700' },
  '.cm-md-em': { fontStyle: 'italic' },
  '.cm-md-strike': { textDecoration: 'line-through' },
  '.cm-md-code': { fontFamily: MONO, fontSize: '.88em', background: 'color-mix(in srgb, var(--fg) 8%, transparent)', borderRadius: '3px', padding: '0 .15em' },
  '.cm-md-codeblock': { fontFamily: MONO, fontSize: '.88em', background: 'color-mix(in srgb, var(--fg) 6%, transparent)' },
  '.cm-md-quote': { borderLeft: '3px solid var(--line)', paddingLeft: '.6em', color: 'color-mix(in srgb, var(--fg) 75%, transparent)', fontStyle: 'italic' },
  '.cm-md-mark': { opacity: '.45' },
  '.cm-md-listmark': { color: 'var(--accent)', fontWeight: '700' },
  '.cm-md-hr': { color: 'color-mix(in srgb, var(--fg) 45%, transparent)' },
  '.cm-md-link': { color: 'var(--accent)', textDecoration: 'underline' },
  '.cm-md-link[data-href]': { cursor: 'pointer' },
  '.cm-md-task': { margin: '0 .3em 0 0', verticalAlign: 'middle', width: '1em', height: '1em', cursor: 'pointer' },
  '.cm-md-task:disabled': { cursor: 'default' },
  '.cm-md-done': { color: 'color-mix(in srgb, var(--fg) 55%, transparent)', textDecoration: 'line-through' },
  '.cm-md-img': { display: 'inline-block', maxWidth: '100%', verticalAlign: 'top' },
  '.cm-md-img img': { display: 'block', maxWidth: '100%', maxHeight: '24rem', borderRadius: '4px', margin: '.2rem 0' },
  '.cm-md-img-alt': { fontSize: '.85em', opacity: '.7' }
})
