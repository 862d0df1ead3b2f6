import { Show } from 'solid-js'
import type * as Y from 'yjs'
import * as model from '../../core/model.js'
import type { ItemView } from '../bridge.js'
import { useTextAt } from '../text-at.js'
import { TextField } from './TextField.js'

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
  const map = model.findItem(props.doc, props.item.id)
  const url = useTextAt(map, 'url')
  const title = useTextAt(map, 'title')
  const note = useTextAt(map, 'note')
  // A URL stored as a plain string (older links) becomes a Y.Text when someone starts editing it.
  const convertUrl = (): void => { if (!props.readOnly && url() === undefined && map !== undefined) model.editableText(map, 'url') }
  return (
    <div class="link">
      <label>URL
        <TextField inputMode="url" text={url()} fallback={props.item.url} readOnly={props.readOnly} onFocus={convertUrl} />
      </label>
      <label>Title
        <TextField text={title()} readOnly={props.readOnly} />
      </label>
      <label>Note
        <TextField multiline rows={2} text={note()} readOnly={props.readOnly} />
      </label>
      <Show when={safeHref(props.item.url)} fallback={<span class="muted">Not an http(s) link</span>}>
        {href => <a href={href()} target="_blank" rel="noopener noreferrer">Open {props.item.title || props.item.url}</a>}
      </Show>
    </div>
  )
}
