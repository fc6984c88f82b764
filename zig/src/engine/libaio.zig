//! Linux native AIO through the raw io_setup/io_submit/io_getevents syscalls: no libaio.so and
//! no headers needed on the target (missing libaio is DeepSpeed's most common build failure).
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const common = @import("common.zig");

/// struct iocb from <linux/aio_abi.h> (little-endian layout).
const Iocb = extern struct {
    data: u64 = 0,
    key: u32 = 0,
    rw_flags: i32 = 0,
    lio_opcode: u16 = 0,
    reqprio: i16 = 0,
    fildes: u32 = 0,
    buf: u64 = 0,
    nbytes: u64 = 0,
    offset: i64 = 0,
    reserved2: u64 = 0,
    flags: u32 = 0,
    resfd: u32 = 0,
};

const IoEvent = extern struct {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
};

const cmd_pread: u16 = 0;
const cmd_pwrite: u16 = 1;

comptime {
    assert(@sizeOf(Iocb) == 64);
    assert(@sizeOf(IoEvent) == 32);
}

pub const Engine = struct {
    context: usize = 0,
    options: common.Options,
    iocbs: []Iocb,
    pending: []*Iocb,
    pending_count: u32 = 0,
    events: []IoEvent,
    /// Completions taken while waiting for room to submit (EAGAIN); handed out by the next reap.
    held: []common.Completion,
    held_count: u32 = 0,
    enter_calls: u64 = 0,
    sqes_submitted: u64 = 0,
    /// IOs submitted whose completion hasn't been handed out yet.
    in_kernel: u32 = 0,
    submit_fault: common.SubmitFault = .{},

    pub fn init(allocator: std.mem.Allocator, options: common.Options) !Engine {
        assert(options.queue_depth >= 1);
        var context: usize = 0;
        const rc = linux.syscall2(.io_setup, options.queue_depth, @intFromPtr(&context));
        switch (common.errnoOf(rc)) {
            0 => {},
            @intFromEnum(linux.E.AGAIN) => return error.QueueDepthBeyondAioMaxNr,
            @intFromEnum(linux.E.NOSYS) => return error.SystemOutdated,
            @intFromEnum(linux.E.PERM) => return error.PermissionDenied,
            else => return error.SystemResources,
        }
        errdefer _ = linux.syscall1(.io_destroy, context);
        const iocbs = try allocator.alloc(Iocb, options.queue_depth);
        errdefer allocator.free(iocbs);
        const pending = try allocator.alloc(*Iocb, options.queue_depth);
        errdefer allocator.free(pending);
        const events = try allocator.alloc(IoEvent, options.queue_depth);
        errdefer allocator.free(events);
        const held = try allocator.alloc(common.Completion, options.queue_depth);
        return .{ .context = context, .options = options, .iocbs = iocbs, .pending = pending, .events = events, .held = held };
    }

    pub fn deinit(self: *Engine, allocator: std.mem.Allocator) void {
        _ = linux.syscall1(.io_destroy, self.context);
        allocator.free(self.iocbs);
        allocator.free(self.pending);
        allocator.free(self.events);
        allocator.free(self.held);
    }

    pub fn attach(_: *Engine, _: i32, _: u64, _: u64) i32 {
        return 0;
    }

    pub fn prep(self: *Engine, io: common.Io) void {
        assert(self.pending_count < self.pending.len);
        assert(io.slot < self.iocbs.len);
        const iocb = &self.iocbs[io.slot];
        iocb.* = .{
            .data = io.slot,
            .lio_opcode = if (io.op == .read) cmd_pread else cmd_pwrite,
            .fildes = @bitCast(io.fd),
            .buf = io.addr,
            .nbytes = io.len,
            .offset = @intCast(io.offset),
        };
        self.pending[self.pending_count] = iocb;
        self.pending_count += 1;
    }

    pub fn submit(self: *Engine) i32 {
        var done: u32 = 0;
        var stalls: u32 = 0;
        defer {
            // Whatever wasn't taken stays queued in order for the next call.
            std.mem.copyForwards(*Iocb, self.pending[0 .. self.pending_count - done], self.pending[done..self.pending_count]);
            self.pending_count -= done;
        }
        while (done < self.pending_count) {
            if (stalls >= common.retry_max) return -@as(i32, @intFromEnum(linux.E.TIMEDOUT));
            const rc = if (self.submit_fault.take()) |rc_fault| @as(usize, @bitCast(@as(isize, rc_fault))) else linux.syscall3(.io_submit, self.context, self.pending_count - done, @intFromPtr(self.pending[done..].ptr));
            self.enter_calls += 1;
            const errno = common.errnoOf(rc);
            if (errno == 0) {
                done += @intCast(rc);
                self.sqes_submitted += rc;
                self.in_kernel += @intCast(rc);
                if (rc == 0) stalls += 1;
                continue;
            }
            stalls += 1;
            if (errno == @intFromEnum(linux.E.INTR)) continue;
            // Out of resources: wait for one of ours to complete (kept for the next reap), or
            // back off when none is in flight, instead of spinning on io_submit.
            if (errno == @intFromEnum(linux.E.AGAIN)) {
                const rc_hold = self.holdOne();
                if (rc_hold < 0) return rc_hold;
                continue;
            }
            return -errno;
        }
        return 0;
    }

    fn holdOne(self: *Engine) i32 {
        if (self.in_kernel == 0 or self.held_count == self.held.len) {
            common.sleepNs(busy_backoff_ns);
            return 0;
        }
        const n = self.getEvents(1, self.held[self.held_count..], busy_wait_ns);
        if (n < 0) return n;
        self.held_count += @intCast(n);
        return 0;
    }

    /// Submits what is pending, then waits at most timeout_ns until `min` completions are
    /// ready and copies up to out.len of them; fewer than `min` means the wait timed out.
    pub fn reap(self: *Engine, min: u32, out: []common.Completion, timeout_ns: u64) i32 {
        assert(min <= out.len);
        if (self.pending_count > 0) {
            const rc = self.submit();
            if (rc < 0) return rc;
        }
        var n: u32 = @min(self.held_count, @as(u32, @intCast(out.len)));
        if (n > 0) {
            @memcpy(out[0..n], self.held[0..n]);
            std.mem.copyForwards(common.Completion, self.held[0 .. self.held_count - n], self.held[n..self.held_count]);
            self.held_count -= n;
        }
        if (n >= min) return @intCast(n);
        const got = self.getEvents(min - n, out[n..], timeout_ns);
        if (got < 0) return if (n > 0) @intCast(n) else got;
        n += @intCast(got);
        return @intCast(n);
    }

    /// io_getevents with a timeout (never NULL: every wait is bounded); retries EINTR until
    /// the deadline. Returns the completions copied into out, or -errno.
    fn getEvents(self: *Engine, min: u32, out: []common.Completion, timeout_ns: u64) i32 {
        const max: usize = @min(out.len, self.events.len);
        // The kernel bounds each wait; the clock is read only after a signal cut one short.
        var deadline_ns: ?u64 = null;
        var left_ns = timeout_ns;
        var stalls: u32 = 0;
        while (stalls < common.retry_max) : (stalls += 1) {
            var ts = linux.timespec{ .sec = @intCast(left_ns / std.time.ns_per_s), .nsec = @intCast(left_ns % std.time.ns_per_s) };
            const rc = linux.syscall5(.io_getevents, self.context, min, max, @intFromPtr(self.events.ptr), @intFromPtr(&ts));
            self.enter_calls += 1;
            const errno = common.errnoOf(rc);
            if (errno == @intFromEnum(linux.E.INTR)) {
                const now = common.nowNs();
                const deadline = deadline_ns orelse now +| timeout_ns;
                deadline_ns = deadline;
                if (now >= deadline) return 0;
                left_ns = deadline - now;
                continue;
            }
            if (errno != 0) return -errno;
            const n: usize = rc;
            for (self.events[0..n], out[0..n]) |event, *c| {
                c.* = .{ .slot = std.math.cast(u32, event.data) orelse std.math.maxInt(u32), .res = event.res };
            }
            self.in_kernel -|= @intCast(n);
            return @intCast(n);
        }
        return -@as(i32, @intFromEnum(linux.E.TIMEDOUT));
    }
};

/// EAGAIN with nothing of ours in flight: back off this long before retrying.
const busy_backoff_ns: u64 = 1 * std.time.ns_per_ms;
/// EAGAIN with IO in flight: wait at most this long for one completion, then retry.
const busy_wait_ns: u64 = 10 * std.time.ns_per_ms;
