// A worker: builds its RoutingState from what the master sends, drops to the `user` account, and
// serves every listen socket until the master says stop. The master owns all signals.
import { convert, convertInSteps } from '../config/convert.ts';
import { ServerReuse } from '../config/reuse.ts';
import { SwapAssembly, type ToMaster, type ToWorker, type WorkerConfig } from './ipc.ts';
import { startListeners, type Listeners } from './listeners.ts';

/** The server blocks of the last conversion: a reload converts only those that changed. */
const reuse = new ServerReuse();

function send(msg: ToMaster): void {
  process.send?.(msg);
}

async function start(config: WorkerConfig): Promise<Listeners> {
  const { state } = convert({ ...config.loaded, files: [] }, { warnings: false, reuse }); // the master has logged them
  if (config.user) {
    // Group first: after setuid the worker could no longer change it.
    process.setgid!(config.user.gid);
    process.setuid!(config.user.uid);
  }
  return startListeners(state, config.certificates, (entry) => send({ type: 'log', entry: { pid: process.pid, ...entry } }), config.ticketSecret);
}

export function runWorker(): void {
  process.title = 'bext: worker process';
  // Signals are the master's business; a terminal's Ctrl-C reaches the whole group, the master decides.
  for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGINT', 'SIGQUIT'] as const) process.on(sig, () => {});
  let listeners: Listeners | undefined;
  /** Settles once the worker listens: a swap that comes while it starts waits for it. */
  let started: Promise<unknown> = Promise.resolve();
  let stopping = false;
  const swapping = new SwapAssembly();
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'start') {
      started = start(msg.config).then(
        (l) => {
          listeners = l;
          send({ type: 'ready' });
        },
        (err: Error) => {
          send({ type: 'failed', lines: err.message.split('\n') });
          setTimeout(() => process.exit(1), 50);
        },
      );
    } else if (msg.type === 'swap' || msg.type === 'swap-part') {
      const config = swapping.add(msg);
      if (!config) return; // parts still to come
      // The master sends the next swap only after this one's answer: one conversion at a time.
      convertInSteps({ ...config.loaded, files: [] }, { warnings: false, reuse })
        .then(async ({ state }) => {
          await started;
          if (stopping) return;
          listeners!.swap(state, config.certificates, config.ticketSecret);
          send({ type: 'swapped' });
        })
        .catch((err: Error) => send({ type: 'failed', lines: err.message.split('\n') }));
    } else if (msg.type === 'reopen') listeners?.reopenLogs();
    else if (msg.type === 'stop') {
      stopping = true;
      if (!listeners || !msg.graceful) process.exit(0);
      listeners.close(msg.timeoutMs).then(() => process.exit(0));
    }
  });
  send({ type: 'waiting' });
  // The master is gone (killed with -9): do not serve orphaned.
  process.on('disconnect', () => process.exit(0));
}
