import { Show, createSignal } from 'solid-js'
import type * as Y from 'yjs'
import * as model from '../../core/model.js'
import * as trash from '../../core/trash.js'
import type { ItemView } from '../bridge.js'
import { profile } from '../profile.js'
import { useTextAt } from '../text-at.js'
import { toast } from '../toasts.js'
import { StableFor } from './StableFor.js'
import { TextField } from './TextField.js'

/** A checklist: add, tick, edit, reorder (buttons and drag) and delete entries (to the Trash, with Undo). */
export interface ChecklistProps {
  readonly doc: Y.Doc
  readonly item: ItemView
  readonly readOnly: boolean
}

export function Checklist (props: ChecklistProps) {
  const [draft, setDraft] = createSignal('')
  const [dragged, setDragged] = createSignal<string | undefined>()
  const list = (): Y.Map<unknown> | undefined => model.findItem(props.doc, props.item.id)
  const entry = (id: string): Y.Map<unknown> | undefined => {
    const l = list()
    return l === undefined ? undefined : model.checklistEntries(l)?.toArray().find(e => e.get('id') === id)
  }
  const add = (e: Event): void => {
    e.preventDefault()
    const text = draft().trim()
    const l = list()
    if (text === '' || l === undefined) return
    model.addTodo(props.doc, text, l, profile().name)
    setDraft('')
  }
  const move = (id: string, to: number): void => { const l = list(); if (l !== undefined) model.moveTodo(props.doc, l, id, to) }
  const remove = (id: string, text: string): void => {
    const doc = props.doc
    if (trash.trashEntry(doc, id, profile().name)) toast(`Entry “${text.length > 40 ? `${text.slice(0, 40)}…` : text}” deleted`, { label: 'Undo', run: () => trash.restore(doc, id) })
  }

  return (
    <div class="checklist">
      <StableFor each={props.item.entries} tag="ul" class="entries" label="Checklist entries">
        {(e, i) => {
          const text = useTextAt(entry(e.id), 'text')
          return (
            <li
              class="entry"
              classList={{ done: e.done }}
              data-testid="todo"
              draggable={!props.readOnly}
              onDragStart={ev => { setDragged(e.id); ev.dataTransfer?.setData('text/x-cove-todo', e.id) }}
              onDragOver={ev => { if (dragged() !== undefined) ev.preventDefault() }}
              onDrop={ev => { ev.preventDefault(); const d = dragged(); if (d !== undefined) move(d, i()); setDragged(undefined) }}
            >
              <input
                type="checkbox"
                checked={e.done}
                disabled={props.readOnly}
                aria-label={`Done: ${e.text}`}
                onChange={ev => entry(e.id)?.set('done', ev.currentTarget.checked)}
              />
              <TextField class="entry-text" text={text()} readOnly={props.readOnly} label="Entry text" />
              <Show when={!props.readOnly}>
                <span class="row-tools">
                  <button type="button" class="icon" aria-label="Move entry up" disabled={i() === 0} onClick={() => move(e.id, i() - 1)}>↑</button>
                  <button type="button" class="icon" aria-label="Move entry down" disabled={i() === props.item.entries.length - 1} onClick={() => move(e.id, i() + 1)}>↓</button>
                  <button type="button" class="icon" aria-label="Delete entry" onClick={() => remove(e.id, e.text)}>✕</button>
                </span>
              </Show>
            </li>
          )
        }}
      </StableFor>
      <Show when={!props.readOnly}>
        <form class="add-entry" onSubmit={add}>
          <input placeholder="Add an entry" aria-label="New checklist entry" value={draft()} onInput={e => setDraft(e.currentTarget.value)} data-testid="todo-input" />
          <button type="submit">Add</button>
        </form>
      </Show>
    </div>
  )
}
