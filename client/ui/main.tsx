import { render } from 'solid-js/web'
import { App } from './App.js'
import { report } from './errors.js'
import './styles.css'
import './trash.css'
import './layout.css'
import './photos.css'

/** Entry point of the web app (index.html loads this; vite bundles it into dist/assets/). */
addEventListener('error', e => report(e.error ?? e.message, 'Unexpected error'))
addEventListener('unhandledrejection', e => report(e.reason, 'Unexpected error'))

const root = document.getElementById('root')
if (root === null) throw new Error('index.html has no #root')
render(() => <App />, root)

// The app shell must load with no network for a space to open offline (public/sw.js).
if ('serviceWorker' in navigator && location.protocol !== 'file:') {
  navigator.serviceWorker.register('/sw.js').catch(e => console.warn('cove: offline support unavailable', e))
}
