// `npm start` runs this first: builds what is stale of
// - the web app (vite) into dist/, and
// - the relay (esbuild: one ES module, packages left as imports) into build/relay.mjs,
// each unless its output is newer than every input, so a fresh clone gets a build and a restart
// does not pay for one. `--force` builds both; `--relay` only the relay (the benchmark's).
//
// Why the relay is built at all: run through tsx, its loader thread costs ~10 ms of CPU a second
// with nothing to do, ~1 ms per keystroke at one keystroke per 100 ms (issue 10: relay CPU per op).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const force = process.argv.includes('--force')
const relayOnly = process.argv.includes('--relay')

function newest (p) {
  let st
  try { st = fs.statSync(p) } catch { return 0 }
  if (!st.isDirectory()) return st.mtimeMs
  let m = st.mtimeMs
  for (const e of fs.readdirSync(p)) m = Math.max(m, newest(path.join(p, e)))
  return m
}

/** True when `output` is missing or older than one of `inputs` (paths under the checkout). */
function stale (output, inputs) {
  let builtAt = 0
  try { builtAt = fs.statSync(path.join(root, output)).mtimeMs } catch {}
  return force || builtAt <= Math.max(...inputs.map(i => newest(path.join(root, i))))
}

if (!relayOnly) {
  if (!stale(path.join('dist', 'index.html'), ['index.html', 'vite.config.ts', 'package-lock.json', 'client', 'shared'])) {
    process.stdout.write('web app is up to date (dist/)\n')
  } else {
    process.stdout.write('building the web app into dist/ …\n')
    execFileSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' })
  }
}

const relayOut = path.join('build', 'relay.mjs')
if (stale(relayOut, ['relay', 'shared', 'package-lock.json', path.join('scripts', 'build-if-needed.mjs')])) {
  const { build } = await import('esbuild')
  // Written beside, then renamed: a relay starting meanwhile never loads half a file.
  const tmp = `${relayOut}.${process.pid}.tmp`
  await build({
    entryPoints: [path.join(root, 'relay', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    outfile: path.join(root, tmp),
    logLevel: 'warning'
  })
  fs.renameSync(path.join(root, tmp), path.join(root, relayOut))
  if (!relayOnly) process.stdout.write('built the relay into build/relay.mjs\n')
}
