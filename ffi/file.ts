import { check } from "./errors.ts";
import { native } from "./native.ts";
import { OPEN } from "./symbols.ts";

/** What `AioFile.open` should do. */
export interface OpenOptions {
  /** Open for writing (read+write). */
  write?: boolean;
  /** Create the file when it doesn't exist (O_CREAT). */
  create?: boolean;
  /** Fail when the file exists (with `create`). */
  exclusive?: boolean;
  /** Truncate the file to 0 bytes on open (O_TRUNC). */
  truncate?: boolean;
  /** O_DIRECT (default true). */
  direct?: boolean;
}

/** statx facts about a path. */
export interface FileStat {
  /** Size in bytes. */
  size: number;
  /** st_mode: file type and permission bits. */
  mode: number;
  /** A regular file. */
  isFile: boolean;
  /** A directory. */
  isDirectory: boolean;
  /** A block device. */
  isBlockDevice: boolean;
  /** Alignment in bytes O_DIRECT needs for memory buffers (statx STATX_DIOALIGN); 0 = unknown. */
  dioMemAlign: number;
  /** Alignment in bytes O_DIRECT needs for file offsets and lengths; 0 = unknown. */
  dioOffsetAlign: number;
  /** Preferred IO block size in bytes (st_blksize). */
  blockSize: number;
  /** `major:minor` of the device itself (block device) or of the device holding the file. */
  device: string;
}

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

/** Opens a file descriptor through the native library (so O_DIRECT is available). */
export class AioFile {
  /** The file descriptor. */
  readonly fd: number;
  /** The path it was opened with. */
  readonly path: string;
  /** Opened with O_DIRECT. */
  readonly direct: boolean;
  #closed = false;

  private constructor(fd: number, path: string, direct: boolean) {
    this.fd = fd;
    this.path = path;
    this.direct = direct;
  }

  /** Opens `path`; throws `AioError` (ENOENT, EINVAL for a refused O_DIRECT, ...). */
  static open(path: string, options: OpenOptions = {}): AioFile {
    const direct = options.direct ?? true;
    const flags = (options.write ? OPEN.write : 0) | (options.create ? OPEN.create : 0) |
      (options.exclusive ? OPEN.exclusive : 0) | (options.truncate ? OPEN.truncate : 0) |
      (direct ? OPEN.direct : 0);
    const rc = native().aiob_file_open(cString(path), flags);
    const hint = rc === -22 && direct
      ? "the filesystem refuses O_DIRECT; use --buffered (marked in the report) or another filesystem"
      : undefined;
    const fd = check(rc, { op: options.write ? "open for writing" : "open", path, hint });
    return new AioFile(fd, path, direct);
  }

  /** statx(2) of a path, including the O_DIRECT alignment where the kernel reports it. */
  static stat(path: string): FileStat {
    const out = new BigUint64Array(8);
    check(native().aiob_file_statx(cString(path), out), { op: "stat", path });
    const mode = Number(out[1]);
    const type = mode & 0o170000;
    const rdev = out[7];
    const isBlockDevice = type === 0o060000;
    return {
      size: Number(out[0]),
      mode,
      isFile: type === 0o100000,
      isDirectory: type === 0o040000,
      isBlockDevice,
      dioMemAlign: Number(out[2]),
      dioOffsetAlign: Number(out[3]),
      blockSize: Number(out[4]),
      device: isBlockDevice ? `${rdev >> 32n}:${rdev & 0xffffffffn}` : `${out[5]}:${out[6]}`,
    };
  }

  /** fsync(2): flushes the file's data and metadata to the device. */
  fsync(): void {
    check(native().aiob_file_fsync(this.fd), { op: "fsync", path: this.path });
  }

  /** ftruncate(2) to `size` bytes. */
  truncate(size: number): void {
    check(native().aiob_file_truncate(this.fd, BigInt(size)), { op: "truncate", path: this.path });
  }

  /** Closes the descriptor; a second call does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    native().aiob_file_close(this.fd);
  }
}
