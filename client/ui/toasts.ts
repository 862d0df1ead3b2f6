import { createSignal } from 'solid-js'

/**
 * Short messages with at most one action, shown for a few seconds: the Undo after a delete
 * (issue 9), so taking back a slip is one tap and no confirm dialog stands in the way of deleting.
 */
export interface Toast {
  readonly id: number
  readonly message: string
  readonly action: { readonly label: string; readonly run: () => void } | undefined
}

/** Long enough to notice and reach the button; the Trash keeps the thing after that anyway. */
export const TOAST_MS = 10_000

const [toasts, setToasts] = createSignal<readonly Toast[]>([])
let next = 1

export { toasts }

/** Shows `message` (with `action`) for `ms`; returns its id. At most three are shown, newest last. */
export function toast (message: string, action?: Toast['action'], ms = TOAST_MS): number {
  const id = next++
  setToasts(list => [...list.slice(-2), { id, message, action }])
  setTimeout(() => dismissToast(id), ms)
  return id
}

export function dismissToast (id: number): void {
  setToasts(list => list.filter(t => t.id !== id))
}

/** Drops every toast: their actions act on a space that is being closed. */
export function clearToasts (): void {
  setToasts([])
}
