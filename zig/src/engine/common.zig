//! What every engine shares: one IO to queue, one completion to report, the engine's options.
const std = @import("std");

pub const Op = enum(u8) { read, write };

/// One IO to queue. `slot` comes back in its completion; it is < queue_depth.
pub const Io = struct {
    slot: u32,
    op: Op,
    fd: i32,
    addr: u64,
    len: u32,
    offset: u64,
};

pub const Completion = struct {
    slot: u32,
    /// Bytes moved, or -errno.
    res: i64,
};

pub const Options = struct {
    queue_depth: u32,
    sqpoll: bool = false,
    /// CPU for the SQPOLL thread, or -1 for any.
    sqpoll_cpu: i32 = -1,
    iopoll: bool = false,
    vectored: bool = true,
    fixed_buffers: bool = false,
    fixed_files: bool = false,
    /// The handle waits for every IO in flight before it submits more (ds_aio's sequential
    /// policy, overlap_events off): io_uring then defers completions until that many are in.
    wait_all: bool = false,
};

/// Tests only: the next `count` submitting calls of an engine fail with `errno` (as a kernel
/// short of resources answers), so what the engine does then can be checked.
pub const SubmitFault = struct {
    errno: std.os.linux.E = .SUCCESS,
    count: u32 = 0,

    /// -errno when a fault is due (and uses it up), else null. Compiled out of the library.
    pub fn take(self: *SubmitFault) ?i32 {
        if (!@import("builtin").is_test or self.count == 0) return null;
        self.count -= 1;
        return -@as(i32, @intFromEnum(self.errno));
    }
};

/// Upper bound on retries of a kernel call that answered EINTR/EAGAIN/EBUSY.
pub const retry_max: u32 = 10_000;

pub fn errnoOf(rc: usize) i32 {
    const e = std.os.linux.E.init(rc);
    return @intCast(@intFromEnum(e));
}

pub fn sleepNs(ns: u64) void {
    var ts = std.os.linux.timespec{ .sec = @intCast(ns / std.time.ns_per_s), .nsec = @intCast(ns % std.time.ns_per_s) };
    _ = std.os.linux.nanosleep(&ts, null);
}

/// CLOCK_MONOTONIC in ns, through libc, which reads it from the vDSO. std.os.linux's own
/// clock_gettime looks the vDSO up in the auxiliary vector that Zig's start code saves, which a
/// library loaded with dlopen never runs: there every call was a system call (2.8 per IO at 1M
/// blocks in strace -c, where DeepSpeed's process made none).
pub fn nowNs() u64 {
    var ts: std.c.timespec = undefined;
    _ = std.c.clock_gettime(.MONOTONIC, &ts);
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}
