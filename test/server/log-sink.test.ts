// The log sink batches lines but loses none and keeps their order: written when a batch is full,
// 50 ms after its first line, on flush, and when the process exits (process.exit included); a
// reader that went away stops the logging, not the process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BatchedLogSink } from '../../src/server/log-sink.js';

const SINK = new URL('../../src/server/log-sink.ts', import.meta.url).pathname;

function fileSink(): { sink: BatchedLogSink; read: () => string; done: () => void } {
  const file = join(mkdtempSync(join(tmpdir(), 'ei-log-')), 'out.log');
  const fd = openSync(file, 'w');
  const sink = new BatchedLogSink(fd);
  return { sink, read: () => readFileSync(file, 'utf8'), done: () => (sink.close(), closeSync(fd)) };
}

/** Runs a script with the sink in a child process; resolves with its stdout and exit code. */
function child(script: string, stdio: 'pipe' | 'close-stdout' = 'pipe'): Promise<{ out: string; code: number | null; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { BatchedLogSink } from ${JSON.stringify(SINK)};\n${script}`]);
    let out = '';
    let err = '';
    if (stdio === 'close-stdout') p.stdout.destroy();
    else p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('exit', (code) => resolve({ out, code, err }));
  });
}

describe('batched log sink', () => {
  it('holds lines until the batch is full, then writes them in order', () => {
    const { sink, read, done } = fileSink();
    sink.write('first\n');
    assert.equal(read(), '', 'a single line waits for its batch');
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 200; i += 1) sink.write(line);
    assert.ok(read().startsWith(`first\n${line}`), 'a full batch is written at once, in order');
    sink.write('last\n');
    sink.flush();
    assert.equal(read(), `first\n${line.repeat(200)}last\n`);
    done();
  });

  it('keeps lines of any length and any characters whole and in order', () => {
    const { sink, read, done } = fileSink();
    // Non-ASCII takes more bytes than characters; a line longer than the sink's buffer is written
    // alone, after what was gathered before it.
    const wide = `${'é€😀'.repeat(3000)}\n`;
    // Fewer characters than the buffer has bytes, three times as many bytes.
    const wider = `${'€'.repeat(30_000)}\n`;
    const long = `${'y'.repeat(100_000)}\n`;
    const lines = ['a\n', wide, 'b\n', long, 'c\n', wider, wide, wide, 'd\n'];
    for (const line of lines) sink.write(line);
    sink.flush();
    assert.equal(read(), lines.join(''));
    done();
  });

  it('writes a lone line within 50 ms or so', async () => {
    const { sink, read, done } = fileSink();
    sink.write('alone\n');
    // Bounded wait: 40 polls of 10 ms.
    for (let i = 0; i < 40 && read() === ''; i += 1) await new Promise((r) => setTimeout(r, 10));
    assert.equal(read(), 'alone\n');
    done();
  });

  it('writes what is gathered when the process exits, process.exit and uncaught errors included', async () => {
    const exit = await child(`const s = new BatchedLogSink(1); s.write('one\\n'); s.write('two\\n'); process.exit(3);`);
    assert.deepEqual([exit.out, exit.code], ['one\ntwo\n', 3]);
    const thrown = await child(`const s = new BatchedLogSink(1); s.write('before the error\\n'); throw new Error('boom');`);
    assert.equal(thrown.out, 'before the error\n');
    assert.equal(thrown.code, 1);
  });

  it('stops logging, not the process, when the reader has gone', async () => {
    const r = await child(
      `process.on('SIGPIPE', () => {}); const s = new BatchedLogSink(1); await new Promise((r) => setTimeout(r, 100)); for (let i = 0; i < 100; i++) s.write('line\\n'); s.flush(); s.write('more\\n'); s.flush(); console.error('still running');`,
      'close-stdout',
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /log output stopped: cannot write to file descriptor 1: .*EPIPE/);
    assert.match(r.err, /still running/);
  });
});
