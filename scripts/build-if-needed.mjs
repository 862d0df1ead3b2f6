// `npm start` runs this first: builds the web app (vite) into dist/ unless dist/ is newer than every
// input, so a fresh clone gets a build and a restart does not pay for one.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const built = path.join(root, 'dist', 'index.html')
const inputs = ['index.html', 'vite.config.ts', 'package-lock.json', 'client', 'shared']

function newest (p) {
  let st
  try { st = fs.statSync(p) } catch { return 0 }
  if (!st.isDirectory()) return st.mtimeMs
  let m = st.mtimeMs
  for (const e of fs.readdirSync(p)) m = Math.max(m, newest(path.join(p, e)))
  return m
}

let builtAt = 0
try { builtAt = fs.statSync(built).mtimeMs } catch {}
const changedAt = Math.max(...inputs.map(i => newest(path.join(root, i))))
if (builtAt > changedAt && process.argv[2] !== '--force') {
  process.stdout.write('web app is up to date (dist/)\n')
} else {
  process.stdout.write('building the web app into dist/ …\n')
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' })
}
