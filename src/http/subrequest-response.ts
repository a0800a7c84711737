// The response a subrequest writes into (auth_request's): its status and head are kept, its body
// dropped, as nginx's subrequest with header_only. It stands in for a ServerResponse where the
// pipeline's head writer and the proxy write; no socket is under it.
import { EventEmitter } from 'node:events';

export class SubrequestResponse extends EventEmitter {
  statusCode = 0;
  /** [name, value] as written, names as given. */
  head: [string, string][] = [];
  headersSent = false;
  finished = false;
  writableFinished = false;
  writableEnded = false;
  writableNeedDrain = false;
  writableLength = 0;
  destroyed = false;
  closed = false;
  shouldKeepAlive = true;
  useChunkedEncodingByDefault = true;
  chunkedEncoding = false;
  sendDate = false;
  readonly socket = null;
  private readonly fields = new Map<string, string | string[]>();

  setHeader(name: string, value: string | string[]): this {
    this.fields.set(name.toLowerCase(), value);
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.fields.get(name.toLowerCase());
  }

  removeHeader(name: string): void {
    this.fields.delete(name.toLowerCase());
  }

  hasHeader(name: string): boolean {
    return this.fields.has(name.toLowerCase());
  }

  /** writeHead(status[, phrase][, flat or pairs]) as the pipeline calls it. */
  writeHead(status: number, phrase?: unknown, headers?: unknown): this {
    this.statusCode = status;
    const list = Array.isArray(phrase) ? phrase : Array.isArray(headers) ? headers : [];
    if (list.length && Array.isArray(list[0])) for (const [k, v] of list as [string, string][]) this.head.push([k, String(v)]);
    else for (let i = 0; i + 1 < list.length; i += 2) this.head.push([String(list[i]), String(list[i + 1])]);
    this.headersSent = true;
    return this;
  }

  flushHeaders(): void {}

  writeContinue(): void {}

  assignSocket(): void {}

  write(_chunk: unknown, cb?: unknown): boolean {
    if (typeof cb === 'function') queueMicrotask(cb as () => void);
    return true;
  }

  end(chunk?: unknown, cb?: unknown): this {
    if (this.writableEnded) return this;
    void chunk;
    this.writableEnded = true;
    this.finished = true;
    this.writableFinished = true;
    queueMicrotask(() => {
      this.emit('finish');
      this.closed = true;
      this.emit('close');
      if (typeof cb === 'function') (cb as () => void)();
    });
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.closed = true;
    queueMicrotask(() => this.emit('close'));
    return this;
  }

  /** The values of one header (names compared without case). */
  values(name: string): string[] {
    const low = name.toLowerCase();
    return this.head.filter(([k]) => k.toLowerCase() === low).map(([, v]) => v);
  }
}
