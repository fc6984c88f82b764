import { CODE } from "./symbols.ts";

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  38: "ENOSYS",
  61: "ENODATA",
  95: "EOPNOTSUPP",
  110: "ETIMEDOUT",
  122: "EDQUOT",
  125: "ECANCELED",
  [CODE.short]: "ESHORT",
  [CODE.busy]: "EINPROGRESS",
  [CODE.cancelled]: "ECANCELLED",
  [CODE.badCompletion]: "EBADCOMPLETION",
};

const ERRNO_TEXT: Record<string, string> = {
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  EIO: "input/output error",
  EBADF: "bad file descriptor",
  EAGAIN: "resource temporarily unavailable",
  ENOMEM: "out of memory (or RLIMIT_MEMLOCK too low)",
  EACCES: "permission denied",
  EFAULT: "bad address",
  EBUSY: "device or resource busy",
  EEXIST: "file exists",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EINVAL: "invalid argument",
  EMFILE: "too many open files",
  EFBIG: "file too large",
  ENOSPC: "no space left on device",
  EROFS: "read-only file system",
  ENOSYS: "not supported by this kernel",
  EOPNOTSUPP: "operation not supported",
  ETIMEDOUT: "timed out (no IO completed within the wait bound: is the device hung?)",
  EDQUOT: "disk quota exceeded",
  ESHORT: "short transfer (the file ended early)",
  EINPROGRESS: "a request is already in flight on this handle",
  ECANCELLED: "cancelled",
  EBADCOMPLETION:
    "the kernel reported a completion for no IO in flight (the ring was abandoned; the next request gets a new one)",
};

/** The symbolic name of an errno (or aiobench code), e.g. `EIO`. */
export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code}`;
}

/** Fields that locate an `AioError`. */
export interface AioErrorInfo {
  /** What was being done, e.g. `open`, `read`, `write`, `create handle`. */
  op: string;
  path?: string;
  offset?: number;
  length?: number;
  got?: number;
  hint?: string;
}

/**
 * A failed native call: errno (or aiobench code), its name, and where it happened.
 *
 * @example
 * ```ts
 * try { AioFile.open("/nope", { write: false }); } catch (e) {
 *   if (e instanceof AioError && e.code === "ENOENT") console.log("missing");
 * }
 * ```
 */
export class AioError extends Error {
  /** Symbolic name, e.g. `EIO`, `ENOENT`, `ESHORT`. */
  readonly code: string;
  /** The positive errno, or an aiobench code above 1000 (e.g. 1001 for `ESHORT`). */
  readonly errno: number;
  /** What was being done, e.g. `open for writing`. */
  readonly op: string;
  /** The file involved, when known. */
  readonly path?: string;
  /** File offset in bytes of the failed IO, when known. */
  readonly offset?: number;

  /** Builds the one-line message from `errno` and where it happened. */
  constructor(errno: number, info: AioErrorInfo) {
    const code = errnoName(errno);
    const where = [
      info.path ? ` ${info.path}` : "",
      info.offset !== undefined ? ` at offset ${info.offset}` : "",
    ].join("");
    const short = info.got !== undefined && info.length !== undefined
      ? ` (got ${info.got} of ${info.length} bytes)`
      : "";
    const text = ERRNO_TEXT[code] ?? code;
    super(`${info.op}${where} failed: ${code} ${text}${short}${info.hint ? `; ${info.hint}` : ""}`);
    this.name = "AioError";
    this.code = code;
    this.errno = errno;
    this.op = info.op;
    this.path = info.path;
    this.offset = info.offset;
  }
}

/** Turns a native return code into a value, throwing `AioError` when it is negative. */
export function check<T extends number | bigint>(rc: T, info: AioErrorInfo): T {
  if (rc < 0) throw new AioError(-Number(rc), info);
  return rc;
}
