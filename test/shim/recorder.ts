// A stand-in process for signal and start tests: a small Node program that appends the name of every
// signal it receives to a file, and helpers to start it and read what it got.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The recorder's source. argv: OUT [EXIT_ON_SIGNAL...]; writes OUT.ready with its pid once listening. */
const RECORDER = `
import { appendFileSync, writeFileSync } from 'node:fs';
const [out, ...exitOn] = process.argv.slice(2);
for (const s of ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']) {
  process.on(s, () => {
    appendFileSync(out, s + '\\n');
    if (exitOn.includes(s)) process.exit(0);
  });
}
setInterval(() => {}, 60000);
writeFileSync(out + '.ready', String(process.pid));
`;

export function writeRecorder(dir: string): string {
  const file = path.join(dir, 'recorder.mjs');
  writeFileSync(file, RECORDER);
  return file;
}

export async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Recorder {
  pid: number;
  child: ChildProcess;
  /** Signals received so far, in order. */
  received(): string[];
  /** Waits until `signal` has been recorded. */
  waitFor(signal: string): Promise<void>;
  stop(): void;
}

export async function startRecorder(dir: string, name = 'rec', exitOn: string[] = []): Promise<Recorder> {
  const out = path.join(dir, `${name}.signals`);
  const child = spawn(process.execPath, [writeRecorder(dir), out, ...exitOn], { stdio: 'ignore' });
  // The ready file can exist before its pid is written: an empty read (pid 0 would signal the
  // whole process group, the test runner included) means not yet.
  const pid = await waitFor('recorder start', () => {
    const text = existsSync(`${out}.ready`) ? readFileSync(`${out}.ready`, 'utf8') : '';
    return /^[1-9]\d*$/.test(text) ? Number(text) : undefined;
  });
  const received = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : []);
  return {
    pid,
    child,
    received,
    waitFor: (signal) => waitFor(`${signal} at the recorder`, () => (received().includes(signal) ? true : undefined)).then(() => {}),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** The pid of a process that has exited (and been reaped): nothing answers to it. */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}
