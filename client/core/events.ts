/** A minimal typed event emitter; listeners that throw are reported, never break the emitter. */
export class Emitter<E extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof E, Set<(v: never) => void>>()

  on<K extends keyof E> (name: K, fn: (v: E[K]) => void): () => void {
    let set = this.listeners.get(name)
    if (set === undefined) this.listeners.set(name, set = new Set())
    set.add(fn as (v: never) => void)
    return () => { set.delete(fn as (v: never) => void) }
  }

  emit<K extends keyof E> (name: K, value: E[K]): void {
    for (const fn of this.listeners.get(name) ?? []) {
      try {
        (fn as (v: E[K]) => void)(value)
      } catch (e) {
        console.error(`listener for ${String(name)} failed`, e)
      }
    }
  }
}
