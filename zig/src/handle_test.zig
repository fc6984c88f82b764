//! Unit tests of the split, queue-depth and tail logic, on real files through every engine.
const std = @import("std");
const linux = std.os.linux;
const handle_mod = @import("handle.zig");
const pattern = @import("pattern.zig");

const Handle = handle_mod.Handle;

fn config(engine: handle_mod.EngineKind, block_size: u64, qd: u32, io_parallel: u32, overlap: bool, single: bool) handle_mod.Config {
    return .{
        .block_size = block_size,
        .queue_depth = qd,
        .io_parallel = io_parallel,
        .single_submit = single,
        .overlap_events = overlap,
        .engine = engine,
        .engine_options = .{ .queue_depth = qd },
        .align_bytes = 4096,
        .latency = true,
        .fault = .{},
    };
}

/// An unnamed file in /tmp (O_TMPFILE): concurrent test runs can't collide on a name, and
/// nothing is left behind however a test ends.
const TempFile = struct {
    fd: i32,

    fn create(size: usize, seed: u64) !TempFile {
        const rc = linux.open("/tmp", .{ .ACCMODE = .RDWR, .TMPFILE = true, .DIRECTORY = true }, 0o600);
        try std.testing.expect(std.posix.errno(rc) == .SUCCESS);
        const fd: i32 = @intCast(rc);
        const data = try std.testing.allocator.alloc(u8, size);
        defer std.testing.allocator.free(data);
        pattern.fill(data, seed, 0);
        try std.testing.expectEqual(size, linux.pwrite(fd, data.ptr, size, 0));
        return .{ .fd = fd };
    }

    fn destroy(self: TempFile) void {
        _ = linux.close(self.fd);
    }
};

fn alignedBuffer(size: usize) ![]align(std.heap.page_size_min) u8 {
    const len = std.mem.alignForward(usize, size, 4096);
    return std.testing.allocator.alignedAlloc(u8, .fromByteUnits(std.heap.page_size_min), len);
}

/// What must hold whenever a request has returned, however it ended: every slot is free, no
/// slot is marked in flight, and a lane's engine holds no IO unless the lane was abandoned (its
/// next request replaces the engine).
fn expectIdle(h: *Handle) !void {
    for (h.lanes) |*lane| {
        try std.testing.expectEqual(lane.slots.len, lane.slots_free_count);
        for (lane.slots) |slot| try std.testing.expect(!slot.in_flight);
        if (!lane.abandoned) try std.testing.expectEqual(@as(u64, 0), lane.engine.outstanding());
    }
}

fn readAll(engine: handle_mod.EngineKind, block_size: u64, qd: u32, io_parallel: u32, overlap: bool, single: bool, size: usize) !void {
    const file = try TempFile.create(size, 11);
    defer file.destroy();
    const buf = try alignedBuffer(size);
    defer std.testing.allocator.free(buf);
    @memset(buf, 0);
    const h = try Handle.create(std.testing.allocator, config(engine, block_size, qd, io_parallel, overlap, single));
    defer h.destroy();
    const request = handle_mod.Request{ .mode = .read, .fd = file.fd, .buf_addr = @intFromPtr(buf.ptr), .buf_len = buf.len, .file_offset = 0, .nbytes = size };
    const moved = if (io_parallel == 0) h.runSync(request) else blk: {
        try std.testing.expectEqual(@as(i32, 0), h.start(request));
        break :blk h.wait();
    };
    try std.testing.expectEqual(@as(i64, @intCast(size)), moved);
    try expectIdle(h);
    try std.testing.expectEqual(@as(i64, -1), pattern.check(buf[0..size], 11, 0));
    const c = h.counters();
    const blocks_per_lane = try std.math.divCeil(u64, try std.math.divCeil(u64, size, block_size), @max(1, io_parallel));
    _ = blocks_per_lane;
    try std.testing.expectEqual(@as(u64, size), c.bytes);
    try std.testing.expectEqual(try std.math.divCeil(u64, size, block_size), c.ios);
}

test "reads split into block_size IOs, every policy and engine, with and without a tail" {
    const engines = [_]handle_mod.EngineKind{ .io_uring, .libaio, .psync };
    for (engines) |engine| {
        for ([_]u32{ 0, 1, 3 }) |io_parallel| {
            for ([_]bool{ false, true }) |overlap| {
                for ([_]bool{ false, true }) |single| {
                    try readAll(engine, 64 * 1024, 4, io_parallel, overlap, single, 1024 * 1024);
                    try readAll(engine, 64 * 1024, 4, io_parallel, overlap, single, 1024 * 1024 + 4096 + 100);
                }
            }
        }
    }
}

test "fault switch: eio fails the IO, short is reported, neither counts bytes" {
    const size = 256 * 1024;
    const file = try TempFile.create(size, 3);
    defer file.destroy();
    const buf = try alignedBuffer(size);
    defer std.testing.allocator.free(buf);
    for ([_][]const u8{ "eio@3", "short@3" }) |spec| {
        var cfg = config(.io_uring, 16 * 1024, 2, 0, true, false);
        cfg.fault = handle_mod.Fault.parse(spec);
        const h = try Handle.create(std.testing.allocator, cfg);
        defer h.destroy();
        const rc = h.runSync(.{ .mode = .read, .fd = file.fd, .buf_addr = @intFromPtr(buf.ptr), .buf_len = buf.len, .file_offset = 0, .nbytes = size });
        try std.testing.expect(rc < 0);
        try expectIdle(h);
        const e = h.lastError();
        try std.testing.expect(e.code == 5 or e.code == handle_mod.code_short);
        try std.testing.expect(h.counters().bytes < size);
        try std.testing.expect(e.offset % 4096 == 0 and e.offset < size);
    }
}

test "random offsets stay block-aligned inside the region" {
    const size = 1024 * 1024;
    const file = try TempFile.create(size, 5);
    defer file.destroy();
    const buf = try alignedBuffer(size);
    defer std.testing.allocator.free(buf);
    @memset(buf, 0);
    const h = try Handle.create(std.testing.allocator, config(.io_uring, 4096, 8, 2, true, false));
    defer h.destroy();
    try std.testing.expectEqual(@as(i32, 0), h.start(.{ .mode = .randread, .fd = file.fd, .buf_addr = @intFromPtr(buf.ptr), .buf_len = buf.len, .file_offset = 0, .nbytes = size, .seed = 9 }));
    try std.testing.expectEqual(@as(i64, size), h.wait());
    // Each IO lands at its own offset in the buffer, so every 4K block read holds its own data.
    var blocks_read: usize = 0;
    var i: usize = 0;
    while (i < size) : (i += 4096) {
        if (std.mem.allEqual(u8, buf[i..][0..4096], 0)) continue;
        blocks_read += 1;
        try std.testing.expectEqual(@as(i64, -1), pattern.check(buf[i..][0..4096], 5, i));
    }
    try std.testing.expect(blocks_read > 100);
    try std.testing.expectEqual(@as(u64, 256), h.counters().ios);
}

test "log interval: time-based randread closes one record per interval, totals add up" {
    const size = 1024 * 1024;
    const file = try TempFile.create(size, 6);
    defer file.destroy();
    const buf = try alignedBuffer(size);
    defer std.testing.allocator.free(buf);
    for ([_]u32{ 0, 2 }) |io_parallel| {
        const h = try Handle.create(std.testing.allocator, config(.io_uring, 4096, 8, io_parallel, true, false));
        defer h.destroy();
        try h.setLogInterval(50 * std.time.ns_per_ms);
        const request = handle_mod.Request{ .mode = .randread, .fd = file.fd, .buf_addr = @intFromPtr(buf.ptr), .buf_len = buf.len, .file_offset = 0, .nbytes = size, .seed = 1, .runtime_ns = 320 * std.time.ns_per_ms, .time_based = true };
        const moved = if (io_parallel == 0) h.runSync(request) else blk: {
            try std.testing.expectEqual(@as(i32, 0), h.start(request));
            break :blk h.wait();
        };
        try std.testing.expect(moved > 0);
        var records: [64]handle_mod.IntervalRecord = undefined;
        const n = h.intervalCount();
        try std.testing.expectEqual(n, h.intervalRecordsFrom(0, &records));
        const lanes = @max(1, io_parallel);
        // 320 ms at 50 ms: 6 closed intervals and one open one per lane (a loaded machine may
        // notice a boundary late, merging two intervals into one record).
        try std.testing.expect(n >= 4 * lanes and n <= 7 * lanes);
        var bytes: u64 = 0;
        var ios: u64 = 0;
        for (records[0..n]) |r| {
            bytes += r.bytes;
            ios += r.ios;
            try std.testing.expect(r.ios == 0 or r.p99_ns > 0);
            try std.testing.expect(r.end_ns >= r.index * 50 * std.time.ns_per_ms);
        }
        try std.testing.expectEqual(h.counters().bytes, bytes);
        try std.testing.expectEqual(h.counters().ios, ios);
        h.resetStats();
        try std.testing.expectEqual(@as(usize, 0), h.intervalCount());
    }
}

fn runRequest(h: *Handle, request: handle_mod.Request) !i64 {
    if (h.config.io_parallel == 0) return h.runSync(request);
    try std.testing.expectEqual(@as(i32, 0), h.start(request));
    return h.wait();
}

test "a completion naming no slot in flight (invalid or repeated) fails the request; the lane then gets a fresh ring" {
    const size = 512 * 1024;
    const file = try TempFile.create(size, 8);
    defer file.destroy();
    const buf = try alignedBuffer(size);
    defer std.testing.allocator.free(buf);
    const engines = [_]handle_mod.EngineKind{ .io_uring, .libaio, .psync };
    // cqe: a user_data past the slots; dup: a completion delivered twice (IO completed twice).
    for ([_][]const u8{ "cqe@3", "dup@3" }) |spec| for (engines) |engine| {
        for ([_]u32{ 0, 2 }) |io_parallel| {
            var cfg = config(engine, 16 * 1024, 8, io_parallel, true, false);
            cfg.fault = handle_mod.Fault.parse(spec);
            const h = try Handle.create(std.testing.allocator, cfg);
            defer h.destroy();
            const request = handle_mod.Request{ .mode = .read, .fd = file.fd, .buf_addr = @intFromPtr(buf.ptr), .buf_len = buf.len, .file_offset = 0, .nbytes = size };
            try std.testing.expectEqual(@as(i64, -handle_mod.code_bad_completion), try runRequest(h, request));
            try expectIdle(h);
            // The abandoned ring may still complete IOs of the first request; none of them
            // may reach the second one, which must read everything exactly once.
            @memset(buf, 0);
            h.resetStats();
            try std.testing.expectEqual(@as(i64, size), try runRequest(h, request));
            try expectIdle(h);
            try std.testing.expectEqual(@as(i64, -1), pattern.check(buf[0..size], 8, 0));
            try std.testing.expectEqual(@as(u64, size / (16 * 1024)), h.counters().ios);
        }
    };
}

test "a lane whose IO never completes gives up after its wait bound (ETIMEDOUT), then works again" {
    // A read from an empty pipe stays in flight until data comes: a stand-in for a hung device.
    var fds: [2]i32 = undefined;
    try std.testing.expectEqual(@as(usize, 0), linux.pipe2(&fds, .{ .CLOEXEC = true }));
    defer _ = linux.close(fds[0]);
    defer _ = linux.close(fds[1]);
    const buf = try alignedBuffer(4096);
    defer std.testing.allocator.free(buf);
    var cfg = config(.io_uring, 4096, 1, 0, true, false);
    cfg.wait_max_ns = 300 * std.time.ns_per_ms;
    const h = try Handle.create(std.testing.allocator, cfg);
    defer h.destroy();
    const request = handle_mod.Request{ .mode = .read, .fd = fds[0], .buf_addr = @intFromPtr(buf.ptr), .buf_len = buf.len, .file_offset = 0, .nbytes = 4096 };
    const t0 = std.time.nanoTimestamp();
    try std.testing.expectEqual(@as(i64, -@as(i64, @intFromEnum(linux.E.TIMEDOUT))), h.runSync(request));
    const waited: u64 = @intCast(std.time.nanoTimestamp() - t0);
    try std.testing.expect(waited >= 300 * std.time.ns_per_ms and waited < 5 * std.time.ns_per_s);
    try std.testing.expect(h.lanes[0].abandoned);
    try expectIdle(h);
    // Data for the abandoned read goes to the old ring; the next request gets its own.
    const data = [_]u8{7} ** 4096;
    try std.testing.expectEqual(@as(usize, 4096), linux.write(fds[1], &data, data.len));
    try std.testing.expectEqual(@as(usize, 4096), linux.write(fds[1], &data, data.len));
    const moved = h.runSync(request);
    try std.testing.expectEqual(@as(i64, 4096), moved);
    try std.testing.expect(std.mem.allEqual(u8, buf[0..4096], 7));
}

test "a lane abandoned while a cancel drains it is not reused on its old ring, whose read may still be in flight" {
    // The lane's read from an empty pipe never completes: the cancel can't drain it, so after
    // the wait bound the lane gives the ring up with the read still in the kernel.
    var fds: [2]i32 = undefined;
    try std.testing.expectEqual(@as(usize, 0), linux.pipe2(&fds, .{ .CLOEXEC = true }));
    defer _ = linux.close(fds[0]);
    defer _ = linux.close(fds[1]);
    const buf = try alignedBuffer(4096);
    defer std.testing.allocator.free(buf);
    var cfg = config(.io_uring, 4096, 1, 1, true, false);
    cfg.wait_max_ns = 1500 * std.time.ns_per_ms;
    const h = try Handle.create(std.testing.allocator, cfg);
    defer h.destroy();
    const lane = &h.lanes[1];
    const request = handle_mod.Request{ .mode = .read, .fd = fds[0], .buf_addr = @intFromPtr(buf.ptr), .buf_len = buf.len, .file_offset = 0, .nbytes = 4096 };
    try std.testing.expectEqual(@as(i32, 0), h.start(request));
    std.Thread.sleep(50 * std.time.ns_per_ms);
    @atomicStore(bool, &h.cancelled, true, .release); // what aiob_cancel does
    try std.testing.expectEqual(@as(i64, -@as(i64, @intFromEnum(linux.E.TIMEDOUT))), h.wait());
    try std.testing.expectEqual(handle_mod.code_cancelled, h.lastError().code);
    try std.testing.expect(lane.abandoned);
    try std.testing.expect(lane.engine.outstanding() > 0); // the read is still the old ring's
    try expectIdle(h);
    const ring_fd_abandoned = lane.engine.io_uring.ring.fd;
    // The handle's cancel is final; clear it to use the lane again.
    h.cancelled = false;
    const data = [_]u8{5} ** 4096;
    try std.testing.expectEqual(@as(usize, 4096), linux.write(fds[1], &data, data.len));
    try std.testing.expectEqual(@as(usize, 4096), linux.write(fds[1], &data, data.len));
    try std.testing.expectEqual(@as(i32, 0), h.start(request));
    try std.testing.expectEqual(@as(i64, 4096), h.wait());
    try std.testing.expect(!lane.abandoned);
    try std.testing.expect(lane.engine.io_uring.ring.fd != ring_fd_abandoned);
    try expectIdle(h);
    try std.testing.expect(std.mem.allEqual(u8, buf[0..4096], 5));
}

test "SQPOLL: every SQE is counted once, as submitted and as in flight" {
    // The kernel's SQ thread takes SQEs at its own pace: one flushed earlier but not yet taken
    // must not be counted again at the next flush (IOS/call and the in-flight count were inflated).
    const size = 4 * 1024 * 1024;
    const file = try TempFile.create(size, 4);
    defer file.destroy();
    const buf = try alignedBuffer(size);
    defer std.testing.allocator.free(buf);
    for ([_]u32{ 0, 2 }) |io_parallel| {
        var cfg = config(.io_uring, 4096, 8, io_parallel, true, false);
        cfg.engine_options.sqpoll = true;
        const h = Handle.create(std.testing.allocator, cfg) catch |err| {
            if (err == error.PermissionDenied) return error.SkipZigTest; // SQPOLL needs 5.11+ unprivileged
            return err;
        };
        defer h.destroy();
        const request = handle_mod.Request{ .mode = .read, .fd = file.fd, .buf_addr = @intFromPtr(buf.ptr), .buf_len = buf.len, .file_offset = 0, .nbytes = size };
        try std.testing.expectEqual(@as(i64, size), try runRequest(h, request));
        try expectIdle(h);
        try std.testing.expectEqual(@as(u64, size / 4096), h.engineCalls()[1]);
        try std.testing.expectEqual(@as(i64, -1), pattern.check(buf[0..size], 4, 0));
    }
}
