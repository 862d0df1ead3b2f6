import { createSignal } from 'solid-js'

/**
 * Whether the browser says this device has a network at all (`navigator.onLine` and its
 * `online` / `offline` events). The relay connection alone cannot tell "no network" from "the
 * relay is down", and a person needs to know which: one is theirs to fix, the other is not
 * (issue 9.6). `false` is reliable; `true` only means some network interface is up.
 */
const [networkUp, setNetworkUp] = createSignal(typeof navigator === 'undefined' || navigator.onLine !== false)

if (typeof addEventListener === 'function') {
  addEventListener('online', () => setNetworkUp(true))
  addEventListener('offline', () => setNetworkUp(false))
}

export { networkUp }
