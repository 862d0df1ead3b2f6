/**
 * The app's keyboard shortcuts (issue 9, Layout), in one place so the help sheet lists exactly
 * what the handler does. Ctrl/Cmd+K is search (views/SearchBox.tsx); Ctrl/Cmd+P is the quick switcher, as in
 * editors people already know (the browser's print dialog is one menu away).
 */

/** What a key press asks the app shell to do. */
export type Command = 'switcher' | 'help' | 'escape'

/** True on Apple platforms, where the modifier people expect is ⌘, and Ctrl+P moves a line up. */
export const isMac = (): boolean => typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform)

/** The modifier as the help sheet names it on this platform. */
export const modName = (): string => isMac() ? '⌘' : 'Ctrl'

/** One line of the help sheet: the keys, and what they do. */
export interface Shortcut { readonly keys: string; readonly does: string }

/** Every shortcut, as the help sheet shows it. */
export function list (): readonly Shortcut[] {
  const mod = modName()
  return [
    { keys: `${mod}+K`, does: 'Search this space and every space on this device' },
    { keys: `${mod}+P`, does: 'Quick switcher: jump to a space by typing part of its title' },
    { keys: '↑ / ↓, Enter', does: 'In the switcher: choose a space, open it' },
    { keys: '?', does: 'This list of shortcuts (when not typing in a field)' },
    { keys: 'Esc', does: 'Close the switcher, this sheet or the spaces drawer' },
    { keys: '← / →, Esc', does: 'In the photo viewer: previous / next photo, close it' },
    { keys: `${mod}+Z / ${mod}+Shift+Z`, does: 'In a note: undo / redo your own changes' },
    { keys: `${mod}+B / ${mod}+I`, does: 'In a note: bold / italic (notes are Markdown)' },
    { keys: `${mod}+click`, does: 'On a link in a note: open it in a new tab' }
  ]
}

const TEXT_INPUTS = new Set(['text', 'search', 'url', 'email', 'tel', 'password', 'number', ''])

/**
 * True when the key goes into a text field: "?" must then type a question mark. Reads the
 * composed path, since a note's editor lives in a shadow root and the event is retargeted.
 */
export function isTyping (e: KeyboardEvent): boolean {
  const t = e.composedPath()[0]
  if (!(t instanceof HTMLElement)) return false
  if (t.isContentEditable || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return true
  return t instanceof HTMLInputElement && TEXT_INPUTS.has(t.type)
}

/** The command a key press asks for, if any. */
export function commandFor (e: KeyboardEvent): Command | undefined {
  const mod = isMac() ? e.metaKey && !e.ctrlKey : e.ctrlKey && !e.metaKey
  if (mod && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 'p') return 'switcher'
  if (e.key === '?' && !e.ctrlKey && !e.metaKey && !e.altKey && !isTyping(e)) return 'help'
  if (e.key === 'Escape') return 'escape'
  return undefined
}

/**
 * Calls `run` for each command pressed anywhere in the page, until the returned function is
 * called. Listens in the capture phase so an editor's own keymap cannot swallow the switcher.
 */
export function listen (run: (c: Command, e: KeyboardEvent) => void): () => void {
  const on = (e: KeyboardEvent): void => {
    const c = commandFor(e)
    if (c === undefined) return
    if (c !== 'escape') e.preventDefault()
    run(c, e)
  }
  addEventListener('keydown', on, true)
  return () => removeEventListener('keydown', on, true)
}
