import { describe, expect, it } from 'vitest'
import { fileRef, noteBlocks, noteTitle } from '../../client/core/markdown.js'
import { exportMarkdown, noteFileNames, safeStem } from '../../client/core/note-export.js'

/** Issue 9, rich notes: the structure `cove cat` reports, and the names of exported `.md` files. */
describe('note structure from Markdown', () => {
  it('reads headings, paragraphs, tasks, nested and ordered lists, quotes, code and rules, without markup', () => {
    const md = [
      '# Trip **plan**', '', 'Bring *dry* socks and `gas`, see [the map](https://example.org).', '',
      '- [ ] tent', '- [x] **stove**', '  - spare parts', '1. leave early', '', '> Pack light', '> really', '',
      '```sh', 'cove cat link', '```', '', '---', '', 'Setext title', '============'
    ].join('\n')
    expect(noteBlocks(md)).toEqual([
      { type: 'heading', level: 1, text: 'Trip plan' },
      { type: 'paragraph', text: 'Bring dry socks and gas, see the map.' },
      { type: 'list-item', ordered: false, depth: 0, text: 'tent', checked: false },
      { type: 'list-item', ordered: false, depth: 0, text: 'stove', checked: true },
      { type: 'list-item', ordered: false, depth: 1, text: 'spare parts' },
      { type: 'list-item', ordered: true, depth: 0, text: 'leave early' },
      { type: 'quote', text: 'Pack light\nreally' },
      { type: 'code', lang: 'sh', text: 'cove cat link' },
      { type: 'rule' },
      { type: 'heading', level: 1, text: 'Setext title' }
    ])
  })

  it('a note written before rich notes (plain text) is one paragraph per run of lines', () => {
    expect(noteBlocks('Bring the tent\nand the stove\n\nsee you')).toEqual([
      { type: 'paragraph', text: 'Bring the tent\nand the stove' },
      { type: 'paragraph', text: 'see you' }
    ])
    expect(noteBlocks('')).toEqual([])
  })

  it('names pasted images by their file item, and only well-formed cove-file references', () => {
    expect(noteBlocks('Look: ![photo.png](cove-file:ab12cd34) ![x](https://e.org/x.png)')).toEqual([{
      type: 'paragraph',
      text: 'Look: photo.png x',
      images: [{ alt: 'photo.png', src: 'cove-file:ab12cd34', file: 'ab12cd34' }, { alt: 'x', src: 'https://e.org/x.png' }]
    }])
    expect(fileRef('cove-file:ab12cd34')).toBe('ab12cd34')
    expect(fileRef('cove-file:../etc')).toBeUndefined()
    expect(fileRef('https://x')).toBeUndefined()
  })

  it('a note\'s title is its first heading, else its first line of text', () => {
    expect(noteTitle('intro\n\n## Real title')).toBe('Real title')
    expect(noteTitle('first line\nsecond')).toBe('first line')
    expect(noteTitle('```\ncode only\n```')).toBe('')
  })
})

describe('export file names', () => {
  it('are filesystem-safe', () => {
    expect(safeStem('a/b\\c:d*e?f"g<h>i|j')).toBe('a_b_c_d_e_f_g_h_i_j')
    expect(safeStem('..hidden')).toBe('hidden')
    expect(safeStem('trailing dots...  ')).toBe('trailing dots')
    expect(safeStem('CON')).toBe('CON_')
    expect(safeStem('tab\there\nnewline')).toBe('tab_here_newline')
    expect(Array.from(safeStem('😀'.repeat(100)))).toHaveLength(60)
  })

  it('are unique ignoring case, avoid space.json, and fall back to the id', () => {
    const names = noteFileNames([
      { id: 'n1', text: '# Plan' },
      { id: 'n2', text: 'plan' },
      { id: 'n3', text: '# Plan' },
      { id: 'n4', text: '' },
      { id: 'n5', text: '# space\n' },
      { id: 'n6', text: '# ../../etc/passwd' }
    ], ['space.json'])
    expect([...names.values()]).toEqual(['Plan.md', 'plan (2).md', 'Plan (3).md', 'note n4.md', 'space.md', '_.._etc_passwd.md'])
    for (const n of names.values()) expect(n).not.toMatch(/[/\\]/)
  })

  it('points cove-file references at the exported files', () => {
    const paths = new Map([['ab12cd34', 'files/ab12cd34-my photo (1).png']])
    expect(exportMarkdown('![my photo](cove-file:ab12cd34) and ![gone](cove-file:zz)', paths))
      .toBe('![my photo](<files/ab12cd34-my photo (1).png>) and ![gone](cove-file:zz)')
  })
})
