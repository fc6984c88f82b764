//! Engine tests on the real kernel: bounded waits and io_uring's step-by-step ring setup.
const std = @import("std");
const linux = std.os.linux;
const common = @import("common.zig");
const io_uring = @import("io_uring.zig");
const libaio = @import("libaio.zig");

test "a reap wait with nothing in flight ends at its timeout (io_uring, libaio)" {
    var out: [4]common.Completion = undefined;
    const timeout_ns = 80 * std.time.ns_per_ms;
    {
        var e = try io_uring.Engine.init(std.testing.allocator, .{ .queue_depth = 4 });
        defer e.deinit(std.testing.allocator);
        try std.testing.expectEqual(@as(i32, 0), e.attach(-1, 0, 0));
        const t0 = common.nowNs();
        try std.testing.expectEqual(@as(i32, 0), e.reap(1, &out, timeout_ns));
        const waited = common.nowNs() - t0;
        try std.testing.expect(waited >= timeout_ns / 2 and waited < 20 * timeout_ns);
    }
    {
        var e = try libaio.Engine.init(std.testing.allocator, .{ .queue_depth = 4 });
        defer e.deinit(std.testing.allocator);
        const t0 = common.nowNs();
        try std.testing.expectEqual(@as(i32, 0), e.reap(1, &out, timeout_ns));
        const waited = common.nowNs() - t0;
        try std.testing.expect(waited >= timeout_ns / 2 and waited < 20 * timeout_ns);
    }
}

test "ring setup falls back one step at a time when the kernel refuses flags" {
    // DEFER_TASKRUN without SINGLE_ISSUER is refused (EINVAL) by every kernel that knows it,
    // and by older ones as an unknown flag: the next step must be taken, not the plain ring.
    const refused = linux.IORING_SETUP_DEFER_TASKRUN;
    const steps = [_]u32{ refused, linux.IORING_SETUP_COOP_TASKRUN, 0 };
    var setup = try io_uring.setupRing(4, .{ .queue_depth = 4 }, &steps);
    defer setup.ring.deinit();
    const coop_known = setup.flags == linux.IORING_SETUP_COOP_TASKRUN;
    try std.testing.expect(coop_known or setup.flags == 0); // 0 only before 5.19
    // The default steps end at a ring whose flags are exactly one of the steps.
    var default = try io_uring.setupRing(4, .{ .queue_depth = 4 }, &io_uring.setup_steps);
    defer default.ring.deinit();
    try std.testing.expect(std.mem.indexOfScalar(u32, &io_uring.setup_steps, default.flags) != null);
    if (coop_known) try std.testing.expect(default.flags != 0);
}

test "an engine reports its ring flags and counts each enter" {
    var e = try io_uring.Engine.init(std.testing.allocator, .{ .queue_depth = 2 });
    defer e.deinit(std.testing.allocator);
    try std.testing.expect(std.mem.indexOfScalar(u32, &io_uring.setup_steps, e.setup_flags) != null);
    try std.testing.expectEqual(@as(i32, 0), e.attach(-1, 0, 0));
    var out: [2]common.Completion = undefined;
    _ = e.reap(1, &out, std.time.ns_per_ms);
    try std.testing.expect(e.enter_calls >= 1);
    try std.testing.expectEqual(@as(u64, 0), e.sqes_submitted);
}

test "a ring defers completions only for a handle that waits for all its IOs" {
    var overlap = try io_uring.Engine.init(std.testing.allocator, .{ .queue_depth = 2 });
    defer overlap.deinit(std.testing.allocator);
    var wait_all = try io_uring.Engine.init(std.testing.allocator, .{ .queue_depth = 2, .wait_all = true });
    defer wait_all.deinit(std.testing.allocator);
    try std.testing.expect(overlap.setup_flags & linux.IORING_SETUP_DEFER_TASKRUN == 0);
    try std.testing.expect(std.mem.indexOfScalar(u32, &io_uring.setup_steps_wait_all, wait_all.setup_flags) != null);
    // A kernel that knows DEFER_TASKRUN (6.1+) gives it to the wait-all ring.
    const release = std.posix.uname().release;
    var parts = std.mem.tokenizeAny(u8, &release, ".-");
    const major = std.fmt.parseInt(u32, parts.next() orelse "0", 10) catch 0;
    const minor = std.fmt.parseInt(u32, parts.next() orelse "0", 10) catch 0;
    if (major > 6 or (major == 6 and minor >= 1)) {
        try std.testing.expect(wait_all.setup_flags & linux.IORING_SETUP_DEFER_TASKRUN != 0);
    }
    // Both are enabled on this thread (SINGLE_ISSUER binds a ring to the thread that enables it).
    for ([_]*io_uring.Engine{ &overlap, &wait_all }) |e| {
        try std.testing.expectEqual(@as(i32, 0), e.attach(-1, 0, 0));
    }
}

test "io_uring: EAGAIN/EBUSY on submit waits (bounded) for a completion before retrying, not a spin" {
    // Reads from an empty pipe stay in flight: no completion comes to free room, so each refused
    // submit is followed by a bounded wait for one before the retry.
    var fds: [2]i32 = undefined;
    try std.testing.expectEqual(@as(usize, 0), linux.pipe2(&fds, .{ .CLOEXEC = true }));
    defer _ = linux.close(fds[0]);
    defer _ = linux.close(fds[1]);
    var buf: [4096]u8 align(4096) = undefined;
    var e = try io_uring.Engine.init(std.testing.allocator, .{ .queue_depth = 4 });
    defer e.deinit(std.testing.allocator);
    try std.testing.expectEqual(@as(i32, 0), e.attach(-1, 0, 0));
    if (!e.timed_waits) return error.SkipZigTest; // kernels before 5.11 back off instead
    e.prep(.{ .slot = 0, .op = .read, .fd = fds[0], .addr = @intFromPtr(&buf), .len = buf.len, .offset = 0 });
    try std.testing.expectEqual(@as(i32, 0), e.submit());
    for ([_]linux.E{ .AGAIN, .BUSY }, 1..) |errno, slot| {
        e.prep(.{ .slot = @intCast(slot), .op = .read, .fd = fds[0], .addr = @intFromPtr(&buf), .len = buf.len, .offset = 0 });
        e.submit_fault = .{ .errno = errno, .count = 3 };
        const calls_before = e.enter_calls;
        const t0 = common.nowNs();
        try std.testing.expectEqual(@as(i32, 0), e.submit());
        const waited_ns = common.nowNs() - t0;
        // 3 refused submits, 3 waits of 10 ms for a completion, then the submit that works.
        try std.testing.expectEqual(@as(u64, 7), e.enter_calls - calls_before);
        try std.testing.expect(waited_ns >= 25 * std.time.ns_per_ms and waited_ns < 2 * std.time.ns_per_s);
        try std.testing.expectEqual(@as(u32, @intCast(slot + 1)), e.in_kernel);
    }
}

test "libaio: EAGAIN on io_submit takes a completion first (handed out by the next reap, once)" {
    // An unnamed file (O_TMPFILE): concurrent runs can't collide, nothing is left behind.
    const rc_open = linux.open("/tmp", .{ .ACCMODE = .RDWR, .TMPFILE = true, .DIRECTORY = true }, 0o600);
    try std.testing.expect(std.posix.errno(rc_open) == .SUCCESS);
    const fd: i32 = @intCast(rc_open);
    defer _ = linux.close(fd);
    var data: [8192]u8 = undefined;
    @memset(data[0..4096], 1);
    @memset(data[4096..], 2);
    try std.testing.expectEqual(@as(usize, data.len), linux.pwrite(fd, &data, data.len, 0));
    var buf: [8192]u8 align(4096) = undefined;
    var e = try libaio.Engine.init(std.testing.allocator, .{ .queue_depth = 4 });
    defer e.deinit(std.testing.allocator);
    e.prep(.{ .slot = 0, .op = .read, .fd = fd, .addr = @intFromPtr(&buf), .len = 4096, .offset = 0 });
    try std.testing.expectEqual(@as(i32, 0), e.submit());
    e.prep(.{ .slot = 1, .op = .read, .fd = fd, .addr = @intFromPtr(&buf) + 4096, .len = 4096, .offset = 4096 });
    e.submit_fault = .{ .errno = .AGAIN, .count = 2 };
    const calls_before = e.enter_calls;
    try std.testing.expectEqual(@as(i32, 0), e.submit());
    // Refused, wait for slot 0's completion (kept), refused, brief back-off (none in flight), submitted.
    try std.testing.expectEqual(@as(u64, 4), e.enter_calls - calls_before);
    try std.testing.expectEqual(@as(u32, 1), e.held_count);
    var out: [4]common.Completion = undefined;
    try std.testing.expectEqual(@as(i32, 2), e.reap(2, &out, std.time.ns_per_s));
    var seen = [2]u32{ 0, 0 };
    for (out[0..2]) |c| {
        try std.testing.expectEqual(@as(i64, 4096), c.res);
        seen[c.slot] += 1;
    }
    try std.testing.expectEqual([2]u32{ 1, 1 }, seen);
    try std.testing.expectEqual(@as(i32, 0), e.reap(1, &out, 20 * std.time.ns_per_ms)); // no third
    try std.testing.expect(std.mem.allEqual(u8, buf[0..4096], 1) and std.mem.allEqual(u8, buf[4096..], 2));
}

test "io_uring SQPOLL: an SQE the SQ thread hasn't taken yet is counted once, not again at the next flush" {
    var fds: [2]i32 = undefined;
    try std.testing.expectEqual(@as(usize, 0), linux.pipe2(&fds, .{ .CLOEXEC = true }));
    defer _ = linux.close(fds[0]);
    defer _ = linux.close(fds[1]);
    var buf: [4096]u8 align(4096) = undefined;
    var e = io_uring.Engine.init(std.testing.allocator, .{ .queue_depth = 4, .sqpoll = true }) catch |err| {
        if (err == error.PermissionDenied) return error.SkipZigTest; // unprivileged SQPOLL: 5.11+
        return err;
    };
    defer e.deinit(std.testing.allocator);
    try std.testing.expectEqual(@as(i32, 0), e.attach(-1, 0, 0));
    // Past its idle time (1 s) the SQ thread sleeps: the SQE below waits in the ring while the
    // thread wakes, and the flushes right after it find it there.
    std.Thread.sleep(1100 * std.time.ns_per_ms);
    e.prep(.{ .slot = 0, .op = .read, .fd = fds[0], .addr = @intFromPtr(&buf), .len = buf.len, .offset = 0 });
    for (0..8) |_| try std.testing.expectEqual(@as(i32, 0), e.submit());
    try std.testing.expectEqual(@as(u32, 1), e.in_kernel);
    try std.testing.expectEqual(@as(u64, 1), e.sqes_submitted);
}
