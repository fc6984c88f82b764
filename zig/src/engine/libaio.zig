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
    enter_calls: u64 = 0,
    sqes_submitted: u64 = 0,

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
        return .{ .context = context, .options = options, .iocbs = iocbs, .pending = pending, .events = events };
    }

    pub fn deinit(self: *Engine, allocator: std.mem.Allocator) void {
        _ = linux.syscall1(.io_destroy, self.context);
        allocator.free(self.iocbs);
        allocator.free(self.pending);
        allocator.free(self.events);
    }

    pub fn attach(_: *Engine, _: i32, _: u64, _: u64) i32 {
        return 0;
    }

    pub fn prep(self: *Engine, io: common.Io) void {
        assert(self.pending_count < self.pending.len);
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
        var attempt: u32 = 0;
        while (done < self.pending_count and attempt < common.retry_max) : (attempt += 1) {
            const rc = linux.syscall3(.io_submit, self.context, self.pending_count - done, @intFromPtr(self.pending[done..].ptr));
            self.enter_calls += 1;
            const errno = common.errnoOf(rc);
            if (errno == 0) {
                done += @intCast(rc);
                continue;
            }
            if (errno == @intFromEnum(linux.E.INTR) or errno == @intFromEnum(linux.E.AGAIN)) continue;
            return -errno;
        }
        self.sqes_submitted += done;
        self.pending_count = 0;
        return if (attempt >= common.retry_max) -@as(i32, @intFromEnum(linux.E.TIMEDOUT)) else 0;
    }

    pub fn reap(self: *Engine, min: u32, out: []common.Completion) i32 {
        if (self.pending_count > 0) {
            const rc = self.submit();
            if (rc < 0) return rc;
        }
        const max: usize = @min(out.len, self.events.len);
        var attempt: u32 = 0;
        while (attempt < common.retry_max) : (attempt += 1) {
            const rc = linux.syscall5(.io_getevents, self.context, min, max, @intFromPtr(self.events.ptr), 0);
            self.enter_calls += 1;
            const errno = common.errnoOf(rc);
            if (errno == @intFromEnum(linux.E.INTR)) continue;
            if (errno != 0) return -errno;
            const n: usize = rc;
            for (self.events[0..n], out[0..n]) |event, *c| c.* = .{ .slot = @intCast(event.data), .res = event.res };
            return @intCast(n);
        }
        return -@as(i32, @intFromEnum(linux.E.TIMEDOUT));
    }
};
