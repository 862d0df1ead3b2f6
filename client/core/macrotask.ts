/**
 * Runs `fn` in a later macrotask: setImmediate where it exists (Node), else setTimeout(0) (browsers
 * clamp it, but have nothing better without a MessageChannel). Work that must not sit on the path of
 * an edit to the relay goes here: macrotasks run in the order they were queued.
 */
export const nextMacrotask: (fn: () => void) => void = typeof setImmediate === 'function' ? fn => { setImmediate(fn) } : fn => { setTimeout(fn, 0) }
