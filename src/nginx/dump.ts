// `nginx -T`'s dump: for every file read, in the order first opened and each once,
// `# configuration file PATH:` then its raw bytes and a newline.

export function dumpFiles(files: { path: string; content: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(Buffer.from(`# configuration file ${f.path}:\n`), f.content, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}
