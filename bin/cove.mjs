#!/usr/bin/env node
// The `cove` command (package.json "bin"): `npx cove …` from a checkout runs the CLI without npm's
// script banner around its output. The CLI is TypeScript, loaded through tsx as `npm run cove` does.
import { register } from 'tsx/esm/api'

register()
await import('../client/cli/main.ts')
