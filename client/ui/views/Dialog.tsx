import { onMount, type JSX } from 'solid-js'

/**
 * A modal dialog on the native `<dialog>`: the browser traps focus, makes the page behind inert
 * and closes on Escape, so the switcher and the help sheet need none of that by hand. Rendered
 * only while open (wrap in `<Show>`); `onClose` is called however it closes.
 */
export interface DialogProps {
  readonly label: string
  readonly class?: string
  readonly testId?: string
  readonly onClose: () => void
  readonly children: JSX.Element
}

export function Dialog (props: DialogProps) {
  let el: HTMLDialogElement | undefined
  onMount(() => { if (el?.open === false) el.showModal() })
  return (
    <dialog
      ref={el}
      class={`dialog ${props.class ?? ''}`}
      aria-label={props.label}
      data-testid={props.testId}
      onClose={() => props.onClose()}
      // A click on the backdrop lands on the dialog element itself: close, as a sheet does.
      onClick={e => { if (e.target === e.currentTarget) e.currentTarget.close() }}
    >
      <div class="dialog-body">{props.children}</div>
    </dialog>
  )
}
