//! io_uring engine: SQEs prepared per IO, submitted in batches (or one per enter with
//! single_submit), completions drained straight from the CQ ring.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const common = @import("common.zig");

const setup_deferred: u32 = linux.IORING_SETUP_COOP_TASKRUN | linux.IORING_SETUP_SINGLE_ISSUER |
    linux.IORING_SETUP_DEFER_TASKRUN | linux.IORING_SETUP_R_DISABLED;

pub const Engine = struct {
    ring: linux.IoUring,
    options: common.Options,
    iovecs: []std.posix.iovec,
    /// Kernel calls made (io_uring_enter), and SQEs handed to the kernel.
    enter_calls: u64 = 0,
    sqes_submitted: u64 = 0,
    registered_fd: i32 = -1,
    registered_buf_addr: u64 = 0,
    registered_buf_len: u64 = 0,
    /// Created with R_DISABLED: the first attach() enables it on the thread that will submit.
    disabled: bool = false,

    pub fn init(allocator: std.mem.Allocator, options: common.Options) !Engine {
        assert(options.queue_depth >= 1);
        const entries = std.math.ceilPowerOfTwo(u32, options.queue_depth) catch return error.InvalidQueueDepth;
        if (entries > 32768) return error.InvalidQueueDepth;
        var params = std.mem.zeroInit(linux.io_uring_params, .{ .sq_thread_idle = 1000 });
        if (options.sqpoll) {
            params.flags |= linux.IORING_SETUP_SQPOLL;
            if (options.sqpoll_cpu >= 0) {
                params.flags |= linux.IORING_SETUP_SQ_AFF;
                params.sq_thread_cpu = @intCast(options.sqpoll_cpu);
            }
        }
        if (options.iopoll) params.flags |= linux.IORING_SETUP_IOPOLL;
        // As fio 3.33 does: completions are only run when this thread asks for them (no task
        // work interrupting the submitter). SINGLE_ISSUER binds the ring to the thread that
        // enables it, so the ring starts disabled and attach() enables it on the lane's thread.
        var deferred = params;
        if (!options.sqpoll) deferred.flags |= setup_deferred;
        var disabled = !options.sqpoll;
        const ring = linux.IoUring.init_params(@intCast(entries), &deferred) catch |err| blk: {
            if (err != error.ArgumentsInvalid or !disabled) return err;
            disabled = false; // a kernel before 6.1: plain setup
            break :blk try linux.IoUring.init_params(@intCast(entries), &params);
        };
        const iovecs = try allocator.alloc(std.posix.iovec, options.queue_depth);
        return .{ .ring = ring, .options = options, .iovecs = iovecs, .disabled = disabled };
    }

    pub fn deinit(self: *Engine, allocator: std.mem.Allocator) void {
        self.ring.deinit();
        allocator.free(self.iovecs);
    }

    /// Registers the file and buffer once per distinct pair (cold path: called per request).
    pub fn attach(self: *Engine, fd: i32, buf_addr: u64, buf_len: u64) i32 {
        const fd_ring = self.ring.fd;
        if (self.disabled) {
            const rc = linux.io_uring_register(fd_ring, .REGISTER_ENABLE_RINGS, null, 0);
            if (common.errnoOf(rc) != 0) return -common.errnoOf(rc);
            self.disabled = false;
        }
        if (self.options.fixed_files and self.registered_fd != fd) {
            if (self.registered_fd >= 0) _ = linux.io_uring_register(fd_ring, .UNREGISTER_FILES, null, 0);
            var fds = [_]i32{fd};
            const rc = linux.io_uring_register(fd_ring, .REGISTER_FILES, &fds, 1);
            if (common.errnoOf(rc) != 0) return -common.errnoOf(rc);
            self.registered_fd = fd;
        }
        const same_buffer = self.registered_buf_addr == buf_addr and self.registered_buf_len == buf_len;
        if (self.options.fixed_buffers and !same_buffer) {
            if (self.registered_buf_len != 0) _ = linux.io_uring_register(fd_ring, .UNREGISTER_BUFFERS, null, 0);
            var iov = [_]std.posix.iovec{.{ .base = @ptrFromInt(buf_addr), .len = buf_len }};
            const rc = linux.io_uring_register(fd_ring, .REGISTER_BUFFERS, &iov, 1);
            if (common.errnoOf(rc) != 0) return -common.errnoOf(rc);
            self.registered_buf_addr = buf_addr;
            self.registered_buf_len = buf_len;
        }
        return 0;
    }

    pub fn prep(self: *Engine, io: common.Io) void {
        const sqe = self.ring.get_sqe() catch unreachable; // queue_depth <= ring entries
        const fd: i32 = if (self.options.fixed_files) 0 else io.fd;
        if (self.options.fixed_buffers) {
            const op: linux.IORING_OP = if (io.op == .read) .READ_FIXED else .WRITE_FIXED;
            sqe.prep_rw(op, fd, io.addr, io.len, io.offset);
            sqe.buf_index = 0;
        } else if (self.options.vectored) {
            self.iovecs[io.slot] = .{ .base = @ptrFromInt(io.addr), .len = io.len };
            const op: linux.IORING_OP = if (io.op == .read) .READV else .WRITEV;
            sqe.prep_rw(op, fd, @intFromPtr(&self.iovecs[io.slot]), 1, io.offset);
        } else {
            const op: linux.IORING_OP = if (io.op == .read) .READ else .WRITE;
            sqe.prep_rw(op, fd, io.addr, io.len, io.offset);
        }
        if (self.options.fixed_files) sqe.flags |= linux.IOSQE_FIXED_FILE;
        sqe.user_data = io.slot;
    }

    /// Hands every prepared SQE to the kernel now (single_submit calls this after each prep).
    pub fn submit(self: *Engine) i32 {
        return self.enter(0);
    }

    /// Submits what is pending and waits until at least `min` completions are ready, then
    /// copies up to out.len of them.
    pub fn reap(self: *Engine, min: u32, out: []common.Completion) i32 {
        if (self.ring.cq_ready() < min or self.ring.sq_ready() > 0) {
            const rc = self.enter(if (self.ring.cq_ready() >= min) 0 else min);
            if (rc < 0) return rc;
        }
        const ready = self.ring.cq_ready();
        const n: u32 = @min(ready, @as(u32, @intCast(out.len)));
        const cq = &self.ring.cq;
        var head = cq.head.*;
        for (out[0..n]) |*c| {
            const cqe = cq.cqes[head & cq.mask];
            c.* = .{ .slot = @intCast(cqe.user_data), .res = cqe.res };
            head +%= 1;
        }
        self.ring.cq_advance(n);
        return @intCast(n);
    }

    fn enter(self: *Engine, min_complete: u32) i32 {
        const to_submit = self.ring.flush_sq();
        var flags: u32 = 0;
        if (self.options.sqpoll) {
            if (@atomicLoad(u32, self.ring.sq.flags, .acquire) & linux.IORING_SQ_NEED_WAKEUP != 0) {
                flags |= linux.IORING_ENTER_SQ_WAKEUP;
            }
        } else if (to_submit == 0 and min_complete == 0) return 0;
        if (min_complete > 0 or self.options.iopoll) flags |= linux.IORING_ENTER_GETEVENTS;
        // Only SQPOLL may skip the syscall (its kernel thread is awake); otherwise a plain
        // submit (single_submit) must enter, or the SQEs would wait for the next reap.
        if (self.options.sqpoll and flags == 0) {
            self.sqes_submitted += to_submit;
            return 0;
        }
        var attempt: u32 = 0;
        while (attempt < common.retry_max) : (attempt += 1) {
            const pending = self.ring.sq_ready();
            const rc = linux.io_uring_enter(self.ring.fd, if (self.options.sqpoll) 0 else pending, min_complete, flags, null);
            self.enter_calls += 1;
            const errno = common.errnoOf(rc);
            if (errno == 0) {
                self.sqes_submitted += if (self.options.sqpoll) to_submit else @as(u32, @intCast(rc));
                if (self.options.sqpoll or self.ring.sq_ready() == 0) return 0;
                continue; // partial submission: go again with the rest
            }
            switch (@as(linux.E, @enumFromInt(errno))) {
                .INTR => continue,
                // Resources are short or the CQ is full: wait for one completion, then retry.
                .AGAIN, .BUSY => if (self.ring.cq_ready() > 0) return 0 else continue,
                else => return -errno,
            }
        }
        return -@as(i32, @intFromEnum(linux.E.TIMEDOUT));
    }
};
