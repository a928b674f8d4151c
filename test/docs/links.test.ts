// Every relative link and #anchor in README.md and docs/*.md resolves to an existing file and, for
// an anchor, to a heading of the target page, slugged the way GitHub renders heading ids.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);

/** The page's lines outside fenced code blocks (``` or ~~~), with their 1-based line numbers. */
function proseLines(markdown: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, i) => {
    const opener = /^ {0,3}(`{3,}|~{3,})/.exec(text);
    if (opener) {
      const mark = opener[1]!;
      if (fence === undefined) fence = mark;
      else if (mark[0] === fence[0] && mark.length >= fence.length) fence = undefined;
      return;
    }
    if (fence === undefined) out.push({ line: i + 1, text });
  });
  return out;
}

/** GitHub's heading id: the rendered text, lower-cased, without punctuation, spaces as hyphens. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images render as their text
    .replace(/<[^>]+>/g, ''); // inline HTML tags render as nothing
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page offers: heading slugs (repeats get -1, -2, ...) and explicit ids. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (heading) {
      const base = githubSlug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** Markdown link targets on a page, outside code: inline code spans are blanked first. */
function linksOf(markdown: string): Array<{ line: number; target: string }> {
  const links: Array<{ line: number; target: string }> = [];
  for (const { line, text } of proseLines(markdown)) {
    const prose = text.replace(/(`+)[^`]*?\1/g, '');
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ line, target: m[1]! });
    }
    for (const m of prose.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)) links.push({ line, target: m[1]! });
  }
  return links;
}

/** One line per broken relative link or anchor in the given pages. */
export function brokenLinks(files: string[], root: string): string[] {
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (file: string) => {
    let a = anchorCache.get(file);
    if (!a) anchorCache.set(file, (a = anchorsOf(readFileSync(file, 'utf8'))));
    return a;
  };
  for (const file of files) {
    for (const { line, target } of linksOf(readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target === '') continue; // https:, mailto:, ...
      const where = `${relative(root, file)}:${line}`;
      const hash = target.indexOf('#');
      const path = hash < 0 ? target : target.slice(0, hash);
      const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!existsSync(dest)) {
        problems.push(`${where}: link ${target}: no file ${relative(root, dest)}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (statSync(dest).isDirectory() || !dest.endsWith('.md')) {
        problems.push(`${where}: link ${target}: an anchor needs a markdown page`);
      } else if (!anchors(dest).has(anchor)) {
        problems.push(
          `${where}: link ${target}: no heading "#${anchor}" in ${relative(root, dest)}; ` +
            `it has ${[...anchors(dest)].map((a) => `#${a}`).join(', ')}`,
        );
      }
    }
  }
  return problems;
}

function userPages(root: string): string[] {
  const docs = join(root, 'docs');
  return [
    join(root, 'README.md'),
    ...readdirSync(docs)
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => join(docs, f)),
  ];
}

describe('documentation links', () => {
  it('every relative link and anchor in README.md and docs/*.md resolves', () => {
    assert.deepEqual(brokenLinks(userPages(ROOT), ROOT), []);
  });

  it('the README links every docs page, and docs/README.md indexes every page', () => {
    const pages = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    const readme = linksOf(readFileSync(join(ROOT, 'README.md'), 'utf8')).map((l) => l.target);
    const index = linksOf(readFileSync(join(ROOT, 'docs/README.md'), 'utf8')).map((l) => l.target);
    for (const page of pages) {
      assert.ok(readme.includes(`docs/${page}`), `README.md does not link docs/${page}`);
      assert.ok(index.includes(page), `docs/README.md does not index ${page}`);
    }
  });

  it('pages do not point users at files they do not have', () => {
    for (const file of userPages(ROOT)) {
      const text = readFileSync(file, 'utf8');
      for (const gone of ['DESIGN.md', 'shared/', 'reference/exporters.md', 'npm run cli --']) {
        assert.ok(!text.includes(gone), `${relative(ROOT, file)} mentions ${gone}`);
      }
    }
  });

  it('slugs headings as GitHub does', () => {
    assert.equal(githubSlug('Conformance: templates against real exporters'), 'conformance-templates-against-real-exporters');
    assert.equal(githubSlug('`register` / `unregister`'), 'register--unregister');
    assert.equal(githubSlug('Metrics (`/metrics` on the health port)'), 'metrics-metrics-on-the-health-port');
    assert.equal(githubSlug('The core and the CLI (`test/golden.test.ts`, `test/core/`)'), 'the-core-and-the-cli-testgoldentestts-testcore');
    assert.equal(githubSlug('snake_case and Ünïcode'), 'snake_case-and-ünïcode');
  });

  it('reports a missing file, a missing heading and a link to a repeated heading', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ei-links-'));
    try {
      writeFileSync(
        join(dir, 'a.md'),
        [
          '# Title',
          '## Same',
          '## Same',
          '[ok](#same-1) [ok](b.md#other-page) [bad](#same-2) [gone](c.md) [bad anchor](b.md#nope)',
          '`[not a link](nowhere.md)`',
          '```',
          '[not a link either](nowhere.md)',
          '```',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'b.md'), '# Other page\n');
      const problems = brokenLinks([join(dir, 'a.md')], dir);
      assert.equal(problems.length, 3, problems.join('\n'));
      assert.match(problems[0]!, /^a\.md:4: link #same-2: no heading "#same-2" in a\.md/);
      assert.match(problems[1]!, /^a\.md:4: link c\.md: no file c\.md/);
      assert.match(problems[2]!, /^a\.md:4: link b\.md#nope: no heading "#nope" in b\.md; it has #other-page/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
