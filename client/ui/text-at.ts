import { createSignal, onCleanup, type Accessor } from 'solid-js'
import * as Y from 'yjs'

/**
 * The Y.Text under `key` of an item's map, as a signal that follows the key being replaced (a
 * link URL converted from a plain string on first edit, here or by another member; whichever
 * conversion wins, the field re-binds to it instead of writing into a Y.Text nobody sees).
 * Call inside a component: the observer goes with it.
 */
export function useTextAt (map: Y.Map<unknown> | undefined, key: string): Accessor<Y.Text | undefined> {
  const read = (): Y.Text | undefined => {
    const v = map?.get(key)
    return v instanceof Y.Text ? v : undefined
  }
  const [text, setText] = createSignal(read())
  if (map !== undefined) {
    const onChange = (ev: Y.YMapEvent<unknown>): void => { if (ev.keysChanged.has(key)) setText(read) }
    map.observe(onChange)
    onCleanup(() => map.unobserve(onChange))
  }
  return text
}
