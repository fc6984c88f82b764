//! io_uring engine: SQEs prepared per IO, submitted in batches (or one per enter with
//! single_submit), completions drained straight from the CQ ring. Every wait is bounded.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const common = @import("common.zig");

/// Ring setup flags tried in order, falling back step by step as fio's engine does: cooperative
/// task work with one submitting thread (6.0+; SINGLE_ISSUER binds the ring to the thread that
/// enables it, so it starts disabled), then cooperative task work alone (5.19+), then a plain ring.
/// This is for the overlap policy, which waits for one completion at a time: DEFER_TASKRUN (fio's
/// choice since 3.33) would wake the submitter at its first deferred completion and have it
/// resubmit in small batches (11 IOs per io_uring_enter at 4K QD 32 on a loop device, against 31
/// without it), so the block layer merges less and every extra request costs a wake-up of the
/// device's worker: 18% more CPU per 4K byte, and more than DeepSpeed's libaio.
pub const setup_steps = [_]u32{
    linux.IORING_SETUP_COOP_TASKRUN | linux.IORING_SETUP_SINGLE_ISSUER | linux.IORING_SETUP_R_DISABLED,
    linux.IORING_SETUP_COOP_TASKRUN,
    0,
};

/// The steps for a handle that waits for all its IOs at once (wait_all): DEFER_TASKRUN first
/// (6.1+), whose completions wake the submitter once when all it waits for are in, not once
/// each (1M QD 8: 46 against 51 us of submitting-thread CPU per IO without it).
/// docs/performance.md, "Ring setup", has both measurements.
pub const setup_steps_wait_all = [_]u32{
    linux.IORING_SETUP_COOP_TASKRUN | linux.IORING_SETUP_SINGLE_ISSUER |
        linux.IORING_SETUP_DEFER_TASKRUN | linux.IORING_SETUP_R_DISABLED,
} ++ setup_steps;

/// The fallback steps for a handle's options.
pub fn stepsFor(options: common.Options) []const u32 {
    return if (options.wait_all) &setup_steps_wait_all else &setup_steps;
}

/// A ring and the setup flags the kernel accepted for it.
pub const Setup = struct {
    ring: linux.IoUring,
    flags: u32,
};

/// Creates a ring with the first of `steps` the kernel accepts (SQPOLL rings take no task-run
/// flags). `steps` is a parameter so tests can start the fallback at any step.
pub fn setupRing(entries: u16, options: common.Options, steps: []const u32) !Setup {
    assert(steps.len > 0);
    var base = std.mem.zeroInit(linux.io_uring_params, .{ .sq_thread_idle = 1000 });
    if (options.iopoll) base.flags |= linux.IORING_SETUP_IOPOLL;
    if (options.sqpoll) {
        base.flags |= linux.IORING_SETUP_SQPOLL;
        if (options.sqpoll_cpu >= 0) {
            base.flags |= linux.IORING_SETUP_SQ_AFF;
            base.sq_thread_cpu = @intCast(options.sqpoll_cpu);
        }
        var params = base;
        return .{ .ring = try linux.IoUring.init_params(entries, &params), .flags = base.flags };
    }
    for (steps, 0..) |step, i| {
        var params = base; // the kernel writes into it: a fresh copy per attempt
        params.flags |= step;
        const ring = linux.IoUring.init_params(entries, &params) catch |err| {
            if (err == error.ArgumentsInvalid and i + 1 < steps.len) continue;
            return err;
        };
        return .{ .ring = ring, .flags = base.flags | step };
    }
    unreachable;
}

pub const Engine = struct {
    ring: linux.IoUring,
    options: common.Options,
    iovecs: []std.posix.iovec,
    /// The IORING_SETUP_* flags the ring was created with.
    setup_flags: u32,
    /// The kernel can bound a wait itself (IORING_FEAT_EXT_ARG, 5.11+); else waits poll.
    timed_waits: bool,
    /// Kernel calls made (io_uring_enter), and SQEs handed to the kernel.
    enter_calls: u64 = 0,
    sqes_submitted: u64 = 0,
    /// SQEs handed to the kernel whose CQE hasn't been copied out yet.
    in_kernel: u32 = 0,
    registered_fd: i32 = -1,
    registered_buf_addr: u64 = 0,
    registered_buf_len: u64 = 0,
    /// Created with R_DISABLED: the first attach() enables it on the thread that will submit.
    disabled: bool,
    submit_fault: common.SubmitFault = .{},

    pub fn init(allocator: std.mem.Allocator, options: common.Options) !Engine {
        return initWith(allocator, options, stepsFor(options));
    }

    pub fn initWith(allocator: std.mem.Allocator, options: common.Options, steps: []const u32) !Engine {
        assert(options.queue_depth >= 1);
        // The SQ thread of SQPOLL posts a batch's CQEs before it moves the SQ head past the
        // batch, so up to queue_depth reaped SQEs can still fill the ring while their slots are
        // reissued: room for twice queue_depth keeps get_sqe from ever finding it full.
        const sq_entries = if (options.sqpoll) 2 * options.queue_depth else options.queue_depth;
        const entries = std.math.ceilPowerOfTwo(u32, sq_entries) catch return error.InvalidQueueDepth;
        if (entries > 32768) return error.InvalidQueueDepth;
        var setup = try setupRing(@intCast(entries), options, steps);
        errdefer setup.ring.deinit();
        const iovecs = try allocator.alloc(std.posix.iovec, options.queue_depth);
        return .{
            .ring = setup.ring,
            .options = options,
            .iovecs = iovecs,
            .setup_flags = setup.flags,
            .timed_waits = setup.ring.features & linux.IORING_FEAT_EXT_ARG != 0,
            .disabled = setup.flags & linux.IORING_SETUP_R_DISABLED != 0,
        };
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
        assert(io.slot < self.iovecs.len);
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
        return self.flush(0, 0);
    }

    /// Submits what is pending and waits, at most timeout_ns, until `min` completions are ready;
    /// then copies up to out.len of them. Fewer than `min` (even 0) means the wait timed out.
    pub fn reap(self: *Engine, min: u32, out: []common.Completion, timeout_ns: u64) i32 {
        assert(min <= out.len);
        if (self.ring.cq_ready() < min or self.ring.sq_ready() > 0) {
            const wait_nr = if (self.ring.cq_ready() >= min) 0 else min;
            const rc = self.flush(wait_nr, timeout_ns);
            if (rc < 0) return rc;
        }
        const ready = self.ring.cq_ready();
        const n: u32 = @min(ready, @as(u32, @intCast(out.len)));
        const cq = &self.ring.cq;
        var head = cq.head.*;
        for (out[0..n]) |*c| {
            const cqe = cq.cqes[head & cq.mask];
            // A user_data that isn't a slot number is passed on as one that can't be: the
            // handle checks every slot and fails the request instead of trusting it.
            c.* = .{ .slot = std.math.cast(u32, cqe.user_data) orelse std.math.maxInt(u32), .res = cqe.res };
            head +%= 1;
        }
        self.ring.cq_advance(n);
        self.in_kernel -|= n;
        return @intCast(n);
    }

    /// Submits the prepared SQEs (all of them, retrying partial submissions) and, with wait_nr
    /// > 0, waits up to timeout_ns for that many CQEs. A wait that times out is not an error.
    fn flush(self: *Engine, wait_nr: u32, timeout_ns: u64) i32 {
        // SQEs prepared since the last flush: flush_sq's count also has earlier ones that the
        // SQ thread hasn't taken yet, which were counted when they were flushed.
        const fresh = self.ring.sq.sqe_tail -% self.ring.sq.sqe_head;
        _ = self.ring.flush_sq();
        if (self.options.sqpoll) {
            // The kernel's SQ thread takes them from the ring; enter only to wake it or to wait.
            self.sqes_submitted += fresh;
            self.in_kernel += fresh;
        }
        var wake = self.options.sqpoll and
            @atomicLoad(u32, self.ring.sq.flags, .acquire) & linux.IORING_SQ_NEED_WAKEUP != 0;
        // Calls that made no progress (EINTR, EAGAIN, nothing submitted) are bounded by count,
        // waits by time: the kernel bounds a wait by timeout_ns, and the clock is read only
        // when a wait came back early without its CQEs (a signal), to bound what is left.
        var deadline_ns: ?u64 = null;
        var waited = false;
        var stalls: u32 = 0;
        while (stalls < common.retry_max) {
            const pending: u32 = if (self.options.sqpoll) 0 else self.ring.sq_ready();
            const waiting = wait_nr > 0 and self.ring.cq_ready() < wait_nr;
            if (pending == 0 and !wake and !waiting) return 0;
            var left_ns = timeout_ns;
            if (waiting and (waited or !self.timed_waits)) {
                const now = common.nowNs();
                const deadline = deadline_ns orelse now +| timeout_ns;
                deadline_ns = deadline;
                if (pending == 0 and !wake and now >= deadline) return 0;
                left_ns = deadline -| now;
            }
            const wait_now: u32 = if (waiting and self.timed_waits) wait_nr else 0;
            const rc = self.enter(pending, wait_now, left_ns, waiting or wake);
            wake = false;
            waited = waited or wait_now > 0;
            if (rc >= 0) {
                if (!self.options.sqpoll) {
                    self.sqes_submitted += @intCast(rc);
                    self.in_kernel += @intCast(rc);
                }
                if (pending > 0 and rc == 0) stalls += 1;
                if (pending == 0 and waiting and !self.timed_waits) common.sleepNs(poll_interval_ns);
                continue;
            }
            stalls += 1;
            switch (@as(linux.E, @enumFromInt(-rc))) {
                // The kernel's bound passed with nothing done: the wait timed out.
                .TIME => if (pending == 0) return 0,
                .INTR => {},
                // Short of resources or the CQ is full: a completion frees room; wait for one.
                .AGAIN, .BUSY => {
                    if (self.ring.cq_ready() > 0) return 0;
                    self.waitForRoom();
                },
                else => return rc,
            }
        }
        return -@as(i32, @intFromEnum(linux.E.TIMEDOUT));
    }

    /// After EAGAIN/EBUSY with no CQE to reap: wait (bounded) for one of ours to complete, or
    /// back off briefly when none is in flight (the shortage is elsewhere).
    fn waitForRoom(self: *Engine) void {
        if (self.in_kernel == 0 or !self.timed_waits) return common.sleepNs(busy_backoff_ns);
        _ = self.enter(0, 1, busy_wait_ns, true);
    }

    /// One io_uring_enter. A wait (wait_nr > 0) needs EXT_ARG and is bounded by timeout_ns;
    /// getevents alone runs completions without waiting. Returns the SQEs submitted or -errno.
    fn enter(self: *Engine, to_submit: u32, wait_nr: u32, timeout_ns: u64, getevents: bool) i32 {
        assert(wait_nr == 0 or self.timed_waits); // no unbounded waits
        var flags: u32 = 0;
        if (getevents or wait_nr > 0 or self.options.iopoll) flags |= linux.IORING_ENTER_GETEVENTS;
        if (self.options.sqpoll and
            @atomicLoad(u32, self.ring.sq.flags, .acquire) & linux.IORING_SQ_NEED_WAKEUP != 0)
        {
            flags |= linux.IORING_ENTER_SQ_WAKEUP;
        }
        var ts = linux.kernel_timespec{
            .sec = @intCast(timeout_ns / std.time.ns_per_s),
            .nsec = @intCast(timeout_ns % std.time.ns_per_s),
        };
        var arg = std.mem.zeroInit(linux.io_uring_getevents_arg, .{ .ts = @intFromPtr(&ts) });
        if (wait_nr > 0) flags |= linux.IORING_ENTER_EXT_ARG;
        if (to_submit > 0) {
            if (self.submit_fault.take()) |rc_fault| {
                self.enter_calls += 1;
                return rc_fault;
            }
        }
        const rc = linux.syscall6(
            .io_uring_enter,
            @as(usize, @bitCast(@as(isize, self.ring.fd))),
            to_submit,
            wait_nr,
            flags,
            if (wait_nr > 0) @intFromPtr(&arg) else 0,
            if (wait_nr > 0) @sizeOf(linux.io_uring_getevents_arg) else 0,
        );
        self.enter_calls += 1;
        const errno = common.errnoOf(rc);
        if (errno != 0) return -errno;
        return @intCast(rc);
    }
};

/// Without IORING_FEAT_EXT_ARG (kernels before 5.11) waits poll the CQ at this interval.
const poll_interval_ns: u64 = 20 * std.time.ns_per_us;
/// EAGAIN/EBUSY with nothing of ours in flight: back off this long before retrying.
const busy_backoff_ns: u64 = 1 * std.time.ns_per_ms;
/// EAGAIN/EBUSY with IO in flight: wait at most this long for one completion, then retry.
const busy_wait_ns: u64 = 10 * std.time.ns_per_ms;
