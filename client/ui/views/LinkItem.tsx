import { Show } from 'solid-js'
import type * as Y from 'yjs'
import * as model from '../../core/model.js'
import type { ItemView } from '../bridge.js'

/**
 * A link: URL, title and note. No preview is fetched: a server-side preview would tell the relay
 * the URL, and a client-side one would tell the linked site who is reading.
 */
export interface LinkItemProps {
  readonly doc: Y.Doc
  readonly item: ItemView
  readonly readOnly: boolean
}

/** Only http(s) links are made clickable: a `javascript:` URL from a member must not run here. */
export function safeHref (url: string): string | undefined {
  try {
    const u = new URL(url)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined
  } catch {
    return undefined
  }
}

export function LinkItem (props: LinkItemProps) {
  const map = (): Y.Map<unknown> | undefined => model.findItem(props.doc, props.item.id)
  const setField = (field: 'title' | 'note', value: string): void => {
    const t = map()?.get(field)
    if (t !== undefined) model.setText(t as Y.Text, value)
  }
  return (
    <div class="link">
      <label>URL
        <input type="url" value={props.item.url} readOnly={props.readOnly} onChange={e => map()?.set('url', e.currentTarget.value.trim())} />
      </label>
      <label>Title
        <input value={props.item.title} readOnly={props.readOnly} onInput={e => setField('title', e.currentTarget.value)} />
      </label>
      <label>Note
        <textarea rows="2" value={props.item.note} readOnly={props.readOnly} onInput={e => setField('note', e.currentTarget.value)} />
      </label>
      <Show when={safeHref(props.item.url)} fallback={<span class="muted">Not an http(s) link</span>}>
        {href => <a href={href()} target="_blank" rel="noopener noreferrer">Open {props.item.title || props.item.url}</a>}
      </Show>
    </div>
  )
}
