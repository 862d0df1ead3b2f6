import { createSignal } from 'solid-js'

/**
 * Errors a person should see: shown in a banner, never swallowed. Components call `report`;
 * uncaught errors and rejections are reported too (main.tsx).
 */
export interface ShownError { readonly id: number; readonly message: string }

const [errors, setErrors] = createSignal<readonly ShownError[]>([])
let next = 1

export { errors }

export function report (e: unknown, context?: string): void {
  const msg = e instanceof Error ? e.message : typeof e === 'string' ? e : 'something went wrong'
  console.error(context ?? 'cove', e)
  setErrors(list => [...list.slice(-4), { id: next++, message: context === undefined ? msg : `${context}: ${msg}` }])
}

export function dismiss (id: number): void {
  setErrors(list => list.filter(x => x.id !== id))
}
