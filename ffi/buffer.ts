import { check } from "./errors.ts";
import { native } from "./native.ts";

/**
 * A page-aligned, pre-faulted IO buffer allocated by the native library (mmap), usable for
 * O_DIRECT. JavaScript memory is not aligned for O_DIRECT, so IO buffers always come from here.
 *
 * @example
 * ```ts
 * const buf = AlignedBuffer.alloc(1 << 20);
 * buf.fillPattern(42, 0);
 * buf.free();
 * ```
 */
export class AlignedBuffer {
  /** Address as the native side sees it. */
  readonly address: bigint;
  /** Size asked for, in bytes (the mapping is rounded up to a page). */
  readonly size: number;
  #freed = false;

  private constructor(address: bigint, size: number) {
    this.address = address;
    this.size = size;
  }

  /**
   * Allocates `size` bytes; with `lock`, mlock's them (fails with the errno when it can't);
   * with `hugePages`, asks for transparent huge pages (fewer page pins per IO). Unless
   * `kernelPageOrder` (or `hugePages`), 2 MiB chunks whose pages came out in reversed or
   * scattered physical order are faulted in again, so an IO's pages merge into few segments
   * (zig/src/buffer.zig; it needs CAP_SYS_ADMIN to see the order, else the pages stay as the
   * kernel gave them).
   */
  static alloc(
    size: number,
    options: { lock?: boolean; hugePages?: boolean; kernelPageOrder?: boolean } = {},
  ): AlignedBuffer {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(`buffer size ${size} must be a positive integer`);
    }
    const out = new BigUint64Array(1);
    const flags = (options.lock ? 1 : 0) | (options.hugePages ? 2 : 0) |
      (options.kernelPageOrder ? 4 : 0);
    check(native().aiob_buffer_alloc(BigInt(size), flags, out), {
      op: options.lock ? "allocate and mlock buffer" : "allocate buffer",
      length: size,
      hint: options.lock ? "raise `ulimit -l` or drop --mlock" : undefined,
    });
    return new AlignedBuffer(out[0], size);
  }

  /** A view of the buffer's bytes (valid until `free`). */
  bytes(): Uint8Array {
    this.#alive();
    const pointer = Deno.UnsafePointer.create(this.address);
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer!, this.size));
  }

  /**
   * How the buffer's pages lie in physical memory: of the `pairs` of neighbouring pages, how
   * many follow each other (`ascending`, they merge into one segment) or precede (`descending`);
   * null when this process can't see physical frame numbers (they need CAP_SYS_ADMIN).
   */
  pageOrder(): { pairs: number; ascending: number; descending: number } | null {
    this.#alive();
    const out = new BigUint64Array(3);
    const rc = native().aiob_buffer_order(this.address, BigInt(this.size), out);
    if (rc < 0) return null;
    return { pairs: Number(out[0]), ascending: Number(out[1]), descending: Number(out[2]) };
  }

  /** Fills `[0, length)` with the seeded pattern of file bytes starting at `fileOffset`. */
  fillPattern(seed: number, fileOffset: number, length = this.size): void {
    this.#alive();
    native().aiob_pattern_fill(this.address, BigInt(length), BigInt(seed), BigInt(fileOffset));
  }

  /** -1 when `[0, length)` holds the seeded pattern, else the first differing file offset. */
  checkPattern(seed: number, fileOffset: number, length = this.size): number {
    this.#alive();
    return Number(
      native().aiob_pattern_check(this.address, BigInt(length), BigInt(seed), BigInt(fileOffset)),
    );
  }

  /** -1 when the first `other.length` bytes equal `other`, else the first differing index. */
  compare(other: Uint8Array, at = 0): number {
    this.#alive();
    if (at + other.length > this.size) throw new RangeError("compare beyond the buffer");
    return Number(native().aiob_compare(this.address + BigInt(at), other, BigInt(other.length)));
  }

  /** Unmaps the buffer; further use throws. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    native().aiob_buffer_free(this.address, BigInt(this.size));
  }

  /** Whether `free()` was called. */
  get freed(): boolean {
    return this.#freed;
  }

  #alive(): void {
    if (this.#freed) throw new Error("AlignedBuffer used after free()");
  }
}
