import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../support/proc.js'
import { tempDir } from '../support/relay.js'

/**
 * `npm start` on a port of one's choosing, and the README's tour (issue 9.8): the app must answer
 * on the port asked for with `npm start -- --port N` or `PORT=N npm start`, and the tour's relay
 * must serve the web app, or the links it prints open nothing in a browser.
 *
 * Runs the real start script (npm → build-if-needed → node build/relay.mjs). The build is done once
 * here first, so each start only checks that dist/ and the relay's build are fresh.
 *
 * Before the fix (run on 6c55c95) 2 of 3 failed: `PORT=N npm start` still listened on 8787 (the
 * start script named `--port 8787`), and the README named neither way nor started the tour's
 * relay with `--app`. `npm start -- --port N` already worked (the last `--port` wins) but was
 * nowhere said.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Runs `npm start` with `args` and `env` until it serves the app; returns what `/` answered. */
async function start (args: string[], env: Record<string, string>, port: number): Promise<{ status: number; body: string }> {
  const child = spawn('npm', ['start', '--silent', '--', ...args], { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  // npm runs the script in a shell: kill the whole process group, which this test alone started.
  const stop = (): void => { try { process.kill(-child.pid!, 'SIGTERM') } catch {} }
  try {
    const deadline = Date.now() + 20_000
    while (!out.includes(`web app on http://127.0.0.1:${port}/`)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not serve on ${port}:\n${out}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const res = await fetch(`http://127.0.0.1:${port}/`)
    return { status: res.status, body: await res.text() }
  } finally {
    stop()
    await new Promise(resolve => child.once('exit', resolve))
  }
}

describe('npm start on a chosen port (issue 9.8)', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-if-needed.mjs')], { cwd: ROOT, stdio: 'ignore' })
  }, 180_000)

  it('`npm start -- --port N` serves the app on N', async () => {
    const port = await freePort()
    const r = await start(['--port', String(port), '--data', tempDir('cove-start-')], {}, port)
    expect(r.status).toBe(200)
    expect(r.body).toContain('<div id="root">')
  })

  it('`PORT=N npm start` serves the app on N', async () => {
    const port = await freePort()
    const r = await start(['--data', tempDir('cove-start-')], { PORT: String(port) }, port)
    expect(r.status).toBe(200)
    expect(r.body).toContain('<div id="root">')
  })

  it('the README says how to choose the port, and its tour starts a relay that serves the app', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    expect(readme).toContain('npm start -- --port')
    expect(readme).toContain('PORT=')
    const from = readme.indexOf('## A short tour')
    const next = readme.indexOf('\n## ', from + 1)
    const tour = readme.slice(from, next === -1 ? undefined : next)
    const starts = tour.split('\n').filter(l => /npm (start|run relay)\b/.test(l))
    expect(starts.length).toBeGreaterThan(0)
    for (const l of starts) expect(l, l).toMatch(/npm start|--app/)
  })
})
