//! psync engine: each IO is a pread/pwrite on the calling thread (queue depth 1 per thread,
//! as fio's psync). "Submit" performs the IO; "reap" hands back what was done.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const common = @import("common.zig");

pub const Engine = struct {
    options: common.Options,
    pending: []common.Io,
    pending_count: u32 = 0,
    done: []common.Completion,
    done_count: u32 = 0,
    enter_calls: u64 = 0,
    sqes_submitted: u64 = 0,

    pub fn init(allocator: std.mem.Allocator, options: common.Options) !Engine {
        assert(options.queue_depth >= 1);
        const pending = try allocator.alloc(common.Io, options.queue_depth);
        errdefer allocator.free(pending);
        const done = try allocator.alloc(common.Completion, options.queue_depth);
        return .{ .options = options, .pending = pending, .done = done };
    }

    pub fn deinit(self: *Engine, allocator: std.mem.Allocator) void {
        allocator.free(self.pending);
        allocator.free(self.done);
    }

    pub fn attach(_: *Engine, _: i32, _: u64, _: u64) i32 {
        return 0;
    }

    pub fn prep(self: *Engine, io: common.Io) void {
        assert(self.pending_count < self.pending.len);
        self.pending[self.pending_count] = io;
        self.pending_count += 1;
    }

    pub fn submit(self: *Engine) i32 {
        for (self.pending[0..self.pending_count]) |io| {
            var attempt: u32 = 0;
            const res: i64 = while (attempt < common.retry_max) : (attempt += 1) {
                const ptr: [*]u8 = @ptrFromInt(io.addr);
                const rc = switch (io.op) {
                    .read => linux.pread(io.fd, ptr, io.len, @intCast(io.offset)),
                    .write => linux.pwrite(io.fd, ptr, io.len, @intCast(io.offset)),
                };
                self.enter_calls += 1;
                const errno = common.errnoOf(rc);
                if (errno == @intFromEnum(linux.E.INTR)) continue;
                break if (errno != 0) -@as(i64, errno) else @intCast(rc);
            } else -@as(i64, @intFromEnum(linux.E.TIMEDOUT));
            assert(self.done_count < self.done.len);
            self.done[self.done_count] = .{ .slot = io.slot, .res = res };
            self.done_count += 1;
        }
        self.sqes_submitted += self.pending_count;
        self.pending_count = 0;
        return 0;
    }

    pub fn reap(self: *Engine, min: u32, out: []common.Completion, timeout_ns: u64) i32 {
        _ = min; // everything submitted is already complete: no wait
        _ = timeout_ns;
        if (self.pending_count > 0) _ = self.submit();
        const n = @min(self.done_count, @as(u32, @intCast(out.len)));
        @memcpy(out[0..n], self.done[0..n]);
        std.mem.copyForwards(common.Completion, self.done[0 .. self.done_count - n], self.done[n..self.done_count]);
        self.done_count -= n;
        return @intCast(n);
    }
};
