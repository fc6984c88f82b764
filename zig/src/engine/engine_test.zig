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
