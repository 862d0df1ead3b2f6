import { createRenderEffect, mapArray, type Accessor, type JSX } from 'solid-js'
import { placeNodes } from '../place-nodes.js'

/**
 * A keyed list like Solid's `<For>` (rows follow the identity of the items, which the bridge's
 * `reconcile` keeps per id), whose own container element is placed with placeNodes: a reorder,
 * insert or delete from another member never moves the row that holds the focus, so whoever is
 * typing in it keeps their caret and their keystrokes (issue 9, item 2).
 *
 * Each row must render exactly one element.
 */
export interface StableForProps<T> {
  readonly each: readonly T[]
  readonly tag: 'div' | 'ul'
  readonly class?: string
  readonly label?: string
  readonly testId?: string
  readonly children: (item: T, index: Accessor<number>) => JSX.Element
}

export function StableFor<T> (props: StableForProps<T>): JSX.Element {
  const rows = mapArray(() => props.each, (item, index) => props.children(item, index))
  const host = props.tag === 'ul'
    ? <ul class={props.class} aria-label={props.label} data-testid={props.testId} /> as HTMLUListElement
    : <div class={props.class} aria-label={props.label} data-testid={props.testId} /> as HTMLDivElement
  createRenderEffect(() => {
    placeNodes(host, rows().map(row => {
      if (!(row instanceof Element)) throw new Error('StableFor: each row must render one element')
      return row
    }))
  })
  return host
}
