//! The C ABI of libaiobench, and nothing else: plain integers and pointers in, `>= 0` for
//! success and `-errno` (or -1001.. for aiobench's own codes, see handle.zig) for failure.
//! Every handle is owned by its caller; the library keeps no global mutable state.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const handle_mod = @import("handle.zig");
const histogram = @import("histogram.zig");
const common = @import("engine/common.zig");
const pattern = @import("pattern.zig");
const buffer = @import("buffer.zig");
const io_uring_engine = @import("engine/io_uring.zig");

const Handle = handle_mod.Handle;
const allocator = std.heap.c_allocator;

/// Bumped whenever an exported signature or array layout changes; ffi/native.ts checks it.
pub const abi_version: u32 = 6;

// Layout of the u64 array given to aiob_handle_create (mirrored in ffi/symbols.ts).
const p_block_size = 0;
const p_queue_depth = 1;
const p_io_parallel = 2;
const p_flags = 3;
const p_engine = 4;
const p_sqpoll_cpu = 5;
const p_align = 6;
const p_wait_max_ns = 7;
const p_count = 8;

const flag_single_submit: u64 = 1 << 0;
const flag_overlap_events: u64 = 1 << 1;
const flag_fixed_buffers: u64 = 1 << 2;
const flag_fixed_files: u64 = 1 << 3;
const flag_sqpoll: u64 = 1 << 4;
const flag_iopoll: u64 = 1 << 5;
const flag_nonvectored: u64 = 1 << 6;
const flag_latency: u64 = 1 << 7;
/// Flags only the io_uring engine implements; a handle of another engine refuses them.
const io_uring_only_flags: u64 = flag_fixed_buffers | flag_fixed_files | flag_sqpoll |
    flag_iopoll | flag_nonvectored;

// Layout of the u64 array given to aiob_submit (a request).
const r_mode = 0;
const r_nbytes = 1;
const r_file_offset = 2;
const r_rwmix_read = 3;
const r_seed = 4;
const r_runtime_ns = 5;
const r_time_based = 6;
const r_async = 7;
const r_slot_buffers = 8;
const r_count = 9;

// Layout of the u64 array filled by aiob_handle_stats.
const s_count = 20;

const e_inval: i32 = -@as(i32, @intFromEnum(linux.E.INVAL));

export fn aiob_abi_version() u32 {
    return abi_version;
}

/// Entry `i` of a table the TypeScript side keeps its own copy of (tests/native_tables_test.ts
/// checks they agree): table 0 = engines, 1 = request modes. Null past the end.
export fn aiob_table_name(table: u32, i: u32) ?[*:0]const u8 {
    return switch (table) {
        0 => enumName(handle_mod.EngineKind, i),
        1 => enumName(handle_mod.Mode, i),
        else => null,
    };
}

fn enumName(comptime E: type, value: u32) ?[*:0]const u8 {
    inline for (std.meta.fields(E)) |field| {
        if (field.value == value) return field.name.ptr;
    }
    return null;
}

/// A limit the TypeScript side keeps its own copy of: 0 = queue depth max, 1 = io_parallel max,
/// 2 = the io_uring-only bits of the handle flags. 0 for an unknown `which`.
export fn aiob_table_value(which: u32) u64 {
    return switch (which) {
        0 => handle_mod.queue_depth_max,
        1 => handle_mod.io_parallel_max,
        2 => io_uring_only_flags,
        else => 0,
    };
}

/// How the library was built: 0 Debug, 1 ReleaseSafe, 2 ReleaseFast, 3 ReleaseSmall (safety
/// checks, asserts included, run in the first two).
export fn aiob_build_mode() u32 {
    return @intFromEnum(@import("builtin").mode);
}

export fn aiob_histogram_buckets() u32 {
    return histogram.bucket_count;
}

/// Creates a handle; writes its address to out_handle. Returns 0 or -errno.
export fn aiob_handle_create(params: [*]const u64, out_handle: *usize) i32 {
    const flags = params[p_flags];
    const engine_raw = params[p_engine];
    const queue_depth = params[p_queue_depth];
    const io_parallel = params[p_io_parallel];
    const align_bytes = params[p_align];
    const block_size = params[p_block_size];
    if (queue_depth < 1 or queue_depth > handle_mod.queue_depth_max) return e_inval;
    if (io_parallel > handle_mod.io_parallel_max or engine_raw > 2) return e_inval;
    const io_uring = engine_raw == @intFromEnum(handle_mod.EngineKind.io_uring);
    if (!io_uring and flags & io_uring_only_flags != 0) return e_inval;
    if (align_bytes == 0 or !std.math.isPowerOfTwo(align_bytes)) return e_inval;
    if (block_size == 0 or block_size % align_bytes != 0 or block_size > std.math.maxInt(u32)) return e_inval;
    const config = handle_mod.Config{
        .block_size = block_size,
        .queue_depth = @intCast(queue_depth),
        .io_parallel = @intCast(io_parallel),
        .single_submit = flags & flag_single_submit != 0,
        .overlap_events = flags & flag_overlap_events != 0,
        .engine = @enumFromInt(engine_raw),
        .engine_options = .{
            .queue_depth = @intCast(queue_depth),
            .sqpoll = flags & flag_sqpoll != 0,
            .sqpoll_cpu = @truncate(@as(i64, @bitCast(params[p_sqpoll_cpu]))),
            .iopoll = flags & flag_iopoll != 0,
            .vectored = flags & flag_nonvectored == 0,
            .fixed_buffers = flags & flag_fixed_buffers != 0,
            .fixed_files = flags & flag_fixed_files != 0,
            .wait_all = flags & flag_overlap_events == 0,
        },
        .align_bytes = align_bytes,
        .latency = flags & flag_latency != 0,
        .fault = handle_mod.Fault.parse(std.posix.getenv("AIOBENCH_FAULT")),
        .wait_max_ns = if (params[p_wait_max_ns] == 0) handle_mod.wait_max_ns_default else params[p_wait_max_ns],
    };
    const h = Handle.create(allocator, config) catch |err| return errorToErrno(err);
    out_handle.* = @intFromPtr(h);
    return 0;
}

export fn aiob_handle_destroy(h: ?*Handle) void {
    if (h) |ptr| ptr.destroy();
}

/// One request over fd and buf (see the r_* layout). Synchronous unless r_async is set; an
/// asynchronous request returns 0 once handed to the lane threads and aiob_wait collects it.
/// Returns bytes moved (sync), 0 (async started), or a negative code.
export fn aiob_submit(h: *Handle, fd: i32, buf: u64, buf_len: u64, request: [*]const u64) i64 {
    if (request[r_mode] > 4 or request[r_rwmix_read] > 100) return e_inval;
    const nbytes = request[r_nbytes];
    const slot_buffers = request[r_slot_buffers] != 0;
    if (nbytes == 0 or h.bufferBytesNeeded(nbytes, slot_buffers) > buf_len) return e_inval;
    if (buf % std.heap.page_size_min != 0) return e_inval;
    const r = handle_mod.Request{
        .mode = @enumFromInt(request[r_mode]),
        .fd = fd,
        .buf_addr = buf,
        .buf_len = buf_len,
        .file_offset = request[r_file_offset],
        .nbytes = nbytes,
        .rwmix_read_pct = @intCast(request[r_rwmix_read]),
        .seed = request[r_seed],
        .runtime_ns = request[r_runtime_ns],
        .time_based = request[r_time_based] != 0,
        .slot_buffers = slot_buffers,
    };
    if (r.file_offset % h.config.align_bytes != 0) return e_inval;
    if (request[r_async] != 0) return h.start(r);
    return h.runSync(r);
}

/// Waits for the asynchronous request in flight; returns its bytes or a negative code.
export fn aiob_wait(h: *Handle) i64 {
    return h.wait();
}

/// Asks every lane of the handle to stop issuing IO; in-flight IO is drained (signal-safe).
export fn aiob_cancel(h: *Handle) void {
    @atomicStore(bool, &h.cancelled, true, .release);
}

/// Fills out[0..20]: ios, bytes, errors, short_resubmits, cpu_user_ns, cpu_sys_ns,
/// enter_calls, sqes_submitted, lat_count, lat_min_ns, lat_max_ns, lat_sum_ns,
/// err_code, err_op, err_offset, err_len, err_got, lanes, intervals_dropped,
/// ring_setup_flags (IORING_SETUP_* of the handle's io_uring rings; 0 for other engines).
export fn aiob_handle_stats(h: *const Handle, out: [*]u64) void {
    const c = h.counters();
    const calls = h.engineCalls();
    var lat_count: u64 = 0;
    var lat_min: u64 = std.math.maxInt(u64);
    var lat_max: u64 = 0;
    var lat_sum: u64 = 0;
    for (h.lanes) |*lane| {
        lat_count += lane.histogram.count;
        lat_min = @min(lat_min, lane.histogram.min_ns);
        lat_max = @max(lat_max, lane.histogram.max_ns);
        lat_sum +%= lane.histogram.sum_ns;
    }
    const e = h.lastError();
    const values = [s_count]u64{
        c.ios,            c.bytes,                            c.errors,             c.short_resubmits,
        c.cpu_user_ns,    c.cpu_sys_ns,                       calls[0],             calls[1],
        lat_count,        if (lat_count == 0) 0 else lat_min, lat_max,              lat_sum,
        @intCast(e.code), @intFromEnum(e.op),                 e.offset,             e.len,
        e.got,            h.lanes.len,                        h.intervalsDropped(), h.ringSetupFlags(),
    };
    @memcpy(out[0..s_count], &values);
}

/// Sets the --log_interval of every lane (0 removes it); allocates the lanes' bounded
/// interval logs (handle_mod.interval_records_max each). Not while a request is in flight.
export fn aiob_handle_log_interval(h: *Handle, interval_ns: u64) i32 {
    h.setLogInterval(interval_ns) catch |err| return switch (err) {
        error.Busy => -handle_mod.code_busy,
        error.OutOfMemory => -@as(i32, @intFromEnum(linux.E.NOMEM)),
    };
    return 0;
}

/// Copies up to `capacity` interval records, 5 u64 each (index, end_ns, bytes, ios, p99_ns),
/// lane by lane; each lane's still-open interval comes last. Returns how many there are.
export fn aiob_handle_intervals(h: *const Handle, out: [*]u64, capacity: u32) i64 {
    const total = h.intervalCount();
    const want = @min(total, capacity);
    // Gathered in small batches so nothing is allocated here.
    var batch: [64]handle_mod.IntervalRecord = undefined;
    var written: usize = 0;
    while (written < want) {
        const got = h.intervalRecordsFrom(written, batch[0..@min(batch.len, want - written)]);
        assert(got > 0);
        for (batch[0..got], written..) |r, i| out[i * 5 ..][0..5].* = .{ r.index, r.end_ns, r.bytes, r.ios, r.p99_ns };
        written += got;
    }
    return @intCast(total);
}

/// Copies the handle's merged latency histogram (aiob_histogram_buckets() counts, in ns buckets).
export fn aiob_handle_histogram(h: *const Handle, out: [*]u64, len: u32) i32 {
    if (len != histogram.bucket_count) return e_inval;
    for (out[0..len]) |*o| o.* = 0;
    for (h.lanes) |*lane| {
        for (out[0..len], lane.histogram.buckets) |*o, b| o.* += b;
    }
    return 0;
}

export fn aiob_handle_reset_stats(h: *Handle) void {
    h.resetStats();
}

/// Lower bound in ns of histogram bucket i (so callers compute percentiles on the cold path).
export fn aiob_histogram_bucket_low(i: u32) u64 {
    return histogram.lowerBound(i);
}

export fn aiob_histogram_bucket_width(i: u32) u64 {
    return histogram.width(i);
}

const huge_page_bytes: u64 = 2 << 20;

const alloc_lock: u32 = 1 << 0;
const alloc_huge: u32 = 1 << 1;
const alloc_kernel_order: u32 = 1 << 2;

/// mmap's a page-aligned buffer (pre-faulted); flags: 1 = mlock it, 2 = ask for transparent
/// huge pages, 4 = keep its pages in the physical order the kernel gave them (else, unless 2,
/// 2 MiB chunks that came out reversed or scattered are faulted in again: buffer.zig). Writes
/// its address to out.
export fn aiob_buffer_alloc(size: u64, flags: u32, out: *usize) i32 {
    if (size == 0) return e_inval;
    const len = std.mem.alignForward(u64, size, std.heap.page_size_min);
    const rc = linux.mmap(null, len, linux.PROT.READ | linux.PROT.WRITE, .{ .TYPE = .PRIVATE, .ANONYMOUS = true }, -1, 0);
    if (common.errnoOf(rc) != 0) return -common.errnoOf(rc);
    const ptr: [*]u8 = @ptrFromInt(rc);
    // Huge pages only when asked (--hugepages): DeepSpeed's pinned buffers (posix_memalign +
    // mlock) get whatever the system's THP policy gives, and so do fio's; fewer page pins per
    // IO would make aiobench faster than the workload it stands for. Then fault everything in
    // now, outside any timed region (MADV_POPULATE_WRITE, 5.14+; else touch each page).
    if (flags & alloc_huge != 0 and len >= huge_page_bytes) _ = linux.madvise(ptr, len, linux.MADV.HUGEPAGE);
    // Huge pages are contiguous already (and a chunk mapped anew would lose MADV_HUGEPAGE).
    if (flags & (alloc_kernel_order | alloc_huge) == 0) {
        _ = buffer.populateOrdered(ptr, len);
    } else buffer.faultIn(ptr, len);
    if (flags & alloc_lock != 0) {
        const rc_lock = linux.mlock(ptr, len);
        if (common.errnoOf(rc_lock) != 0) {
            _ = linux.munmap(ptr, len);
            return -common.errnoOf(rc_lock);
        }
    }
    out.* = rc;
    return 0;
}

/// The physical order of a buffer's pages: out[0] = neighbouring page pairs, out[1] = pairs
/// where the second page follows the first physically, out[2] = where it precedes it. -EPERM
/// when this process can't see physical frame numbers (they need CAP_SYS_ADMIN).
export fn aiob_buffer_order(ptr: u64, size: u64, out: *[3]u64) i32 {
    const len = std.mem.alignForward(u64, size, std.heap.page_size_min);
    const o = buffer.measure(@ptrFromInt(ptr), len) orelse return -@as(i32, @intFromEnum(linux.E.PERM));
    out.* = .{ o.pairs, o.ascending, o.descending };
    return 0;
}

export fn aiob_buffer_free(ptr: u64, size: u64) i32 {
    const len = std.mem.alignForward(u64, size, std.heap.page_size_min);
    const rc = linux.munmap(@ptrFromInt(ptr), len);
    return -common.errnoOf(rc);
}

/// Fills buf with the seeded pattern of the file bytes [file_offset, file_offset+len).
export fn aiob_pattern_fill(buf: u64, len: u64, seed: u64, file_offset: u64) void {
    const bytes: [*]u8 = @ptrFromInt(buf);
    pattern.fill(bytes[0..len], seed, file_offset);
}

/// Returns -1 when buf holds the seeded pattern, else the first differing file offset.
export fn aiob_pattern_check(buf: u64, len: u64, seed: u64, file_offset: u64) i64 {
    const bytes: [*]const u8 = @ptrFromInt(buf);
    return pattern.check(bytes[0..len], seed, file_offset);
}

/// Returns -1 when a and b are equal over len bytes, else the first differing index.
export fn aiob_compare(a: u64, b: [*]const u8, len: u64) i64 {
    const x: [*]const u8 = @ptrFromInt(a);
    const index = std.mem.indexOfDiff(u8, x[0..len], b[0..len]) orelse return -1;
    return @intCast(index);
}

// File flags for aiob_file_open.
const f_write: u32 = 1 << 0;
const f_create: u32 = 1 << 1;
const f_direct: u32 = 1 << 2;
const f_exclusive: u32 = 1 << 3;
const f_truncate: u32 = 1 << 4;

/// Opens path; returns the fd or -errno.
export fn aiob_file_open(path: [*:0]const u8, flags: u32) i32 {
    var o: linux.O = .{ .ACCMODE = if (flags & f_write != 0) .RDWR else .RDONLY, .CLOEXEC = true };
    o.CREAT = flags & f_create != 0;
    o.EXCL = flags & f_exclusive != 0;
    o.TRUNC = flags & f_truncate != 0;
    o.DIRECT = flags & f_direct != 0;
    const rc = linux.open(path, o, 0o644);
    if (common.errnoOf(rc) != 0) return -common.errnoOf(rc);
    return @intCast(rc);
}

export fn aiob_file_close(fd: i32) i32 {
    return -common.errnoOf(linux.close(fd));
}

export fn aiob_file_fsync(fd: i32) i32 {
    return -common.errnoOf(linux.fsync(fd));
}

export fn aiob_file_truncate(fd: i32, size: u64) i32 {
    return -common.errnoOf(linux.ftruncate(fd, @intCast(size)));
}

/// statx of path into out[0..8]: size, mode, dio_mem_align, dio_offset_align (0 when the
/// kernel or filesystem doesn't say), blksize, dev_major, dev_minor, rdev_major<<32|rdev_minor.
export fn aiob_file_statx(path: [*:0]const u8, out: [*]u64) i32 {
    var buf: [256]u8 align(8) = [_]u8{0} ** 256;
    const statx_dioalign: u32 = 0x2000;
    const mask: u32 = linux.STATX_BASIC_STATS | statx_dioalign;
    const rc = linux.syscall5(.statx, @bitCast(@as(isize, linux.AT.FDCWD)), @intFromPtr(path), 0, mask, @intFromPtr(&buf));
    if (common.errnoOf(rc) != 0) return -common.errnoOf(rc);
    const got_mask = std.mem.readInt(u32, buf[0..4], .little);
    const dio = got_mask & statx_dioalign != 0;
    out[0] = std.mem.readInt(u64, buf[40..48], .little);
    out[1] = std.mem.readInt(u16, buf[28..30], .little);
    out[2] = if (dio) std.mem.readInt(u32, buf[152..156], .little) else 0;
    out[3] = if (dio) std.mem.readInt(u32, buf[156..160], .little) else 0;
    out[4] = std.mem.readInt(u32, buf[4..8], .little);
    out[5] = std.mem.readInt(u32, buf[136..140], .little);
    out[6] = std.mem.readInt(u32, buf[140..144], .little);
    out[7] = (@as(u64, std.mem.readInt(u32, buf[128..132], .little)) << 32) | std.mem.readInt(u32, buf[132..136], .little);
    return 0;
}

/// Whether an engine can run here: 0, or -errno from setting it up (EPERM, ENOSYS, ...).
export fn aiob_engine_probe(engine: u32) i32 {
    if (engine > 2) return e_inval;
    const kind: handle_mod.EngineKind = @enumFromInt(engine);
    const options = common.Options{ .queue_depth = 1 };
    switch (kind) {
        .io_uring => {
            var params = std.mem.zeroInit(linux.io_uring_params, .{});
            const rc = linux.io_uring_setup(1, &params);
            if (common.errnoOf(rc) != 0) return -common.errnoOf(rc);
            _ = linux.close(@intCast(rc));
        },
        .libaio => {
            var context: usize = 0;
            const rc = linux.syscall2(.io_setup, options.queue_depth, @intFromPtr(&context));
            if (common.errnoOf(rc) != 0) return -common.errnoOf(rc);
            _ = linux.syscall1(.io_destroy, context);
        },
        .psync => {},
    }
    return 0;
}

/// The IORING_SETUP_* flags a ring gets here after the step-by-step fallback (the flags the
/// io_uring rings of handles with that policy use, SQPOLL aside): overlap_events != 0 for the
/// overlap policy, 0 for the sequential one. -errno when io_uring can't be set up.
export fn aiob_io_uring_setup_flags(overlap_events: u32) i64 {
    const options = common.Options{ .queue_depth = 1, .wait_all = overlap_events == 0 };
    const setup = io_uring_engine.setupRing(1, options, io_uring_engine.stepsFor(options)) catch |err| return errorToErrno(err);
    var ring = setup.ring;
    ring.deinit();
    return setup.flags;
}

/// User and system CPU ns of the whole process so far (out[0], out[1]).
export fn aiob_process_cpu(out: [*]u64) void {
    var usage: linux.rusage = undefined;
    _ = linux.getrusage(linux.rusage.SELF, &usage);
    out[0] = @as(u64, @intCast(usage.utime.sec)) * std.time.ns_per_s + @as(u64, @intCast(usage.utime.usec)) * 1000;
    out[1] = @as(u64, @intCast(usage.stime.sec)) * std.time.ns_per_s + @as(u64, @intCast(usage.stime.usec)) * 1000;
}

fn errorToErrno(err: anyerror) i32 {
    const e: linux.E = switch (err) {
        error.OutOfMemory, error.SystemResources => .NOMEM,
        error.PermissionDenied => .PERM,
        error.SystemOutdated => .NOSYS,
        error.ProcessFdQuotaExceeded => .MFILE,
        error.SystemFdQuotaExceeded => .NFILE,
        error.QueueDepthBeyondAioMaxNr => .AGAIN,
        error.ThreadQuotaExceeded, error.LockedMemoryLimitExceeded => .AGAIN,
        else => .INVAL,
    };
    return -@as(i32, @intFromEnum(e));
}

test {
    _ = @import("histogram.zig");
    _ = @import("pattern.zig");
    _ = @import("handle_test.zig");
    _ = @import("buffer.zig");
    _ = @import("engine/engine_test.zig");
}
