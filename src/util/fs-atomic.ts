// Atomic file writes: write to a temporary name in the same folder, fsync, rename.
// A reader never sees a torn file, and a crash leaves the previous version intact.
import fs from 'node:fs';
import path from 'node:path';

/** A file being written under a temporary name; `commit` renames it into place. */
export interface AtomicFile {
  readonly file: string;
  /** write all of `data` at `position` (default: after the previous write) */
  write(data: Uint8Array, position?: number): void;
  /** fsync, close and rename over `file` */
  commit(): void;
  /** close and delete the temporary file; safe to call after a failed commit */
  abort(): void;
}

export function openAtomic(file: string): AtomicFile {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  // Dot-prefixed and ending in .tmp: hidden, git-ignored, and never mistaken for output.
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined = fs.openSync(tmp, 'w');
  let pos = 0;
  const close = (): void => {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
  };
  return {
    file,
    write(data, position = pos) {
      if (fd === undefined) throw new Error(`${file}: write after commit or abort`);
      // writeSync may write less than asked (large buffers, some file systems): loop.
      let done = 0;
      while (done < data.byteLength) done += fs.writeSync(fd, data, done, data.byteLength - done, position + done);
      pos = position + done;
    },
    commit() {
      if (fd === undefined) throw new Error(`${file}: commit after commit or abort`);
      try {
        fs.fsyncSync(fd);
        close();
        fs.renameSync(tmp, file);
      } catch (e) {
        this.abort();
        throw e;
      }
    },
    abort() {
      try {
        close();
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    },
  };
}

export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const out = openAtomic(file);
  try {
    out.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  } catch (e) {
    out.abort();
    throw e;
  }
  out.commit();
}
