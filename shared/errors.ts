/**
 * Expected failures are values with a stable code; exceptions are reserved for bugs.
 * Codes are namespaced per layer (`frame/…`, `envelope/…`, `relay/…`, `apply/…`, `link/…`)
 * and listed in PROTOCOL.md, so a test or a UI can switch on them without parsing messages.
 */
export type Ok<T> = { readonly ok: true; readonly value: T }
export type Err<C extends string = string> = { readonly ok: false; readonly code: C; readonly message: string }
export type Result<T, C extends string = string> = Ok<T> | Err<C>

export const ok = <T>(value: T): Ok<T> => ({ ok: true, value })
export const err = <C extends string>(code: C, message: string = code): Err<C> => ({ ok: false, code, message })

/** Thrown only inside a bounded parser and caught at its public boundary, where it becomes an `Err`. */
export class DecodeError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
  }
}

/** For states the code cannot reach unless it has a bug. */
export function assert (cond: unknown, message = 'assertion failed'): asserts cond {
  if (!cond) throw new Error(message)
}

export function unexpectedCase (value: never): never {
  throw new Error(`unexpected case: ${String(value)}`)
}
