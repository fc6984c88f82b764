//! The aio handle: DeepSpeed's knobs (block_size, queue_depth, single_submit, overlap_events,
//! io_parallel) over one engine per lane. Lane 0 serves synchronous calls on the caller's
//! thread; lanes 1..io_parallel each own a thread and a ring and serve asynchronous requests.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const common = @import("engine/common.zig");
const histogram = @import("histogram.zig");
const io_uring = @import("engine/io_uring.zig");
const libaio = @import("engine/libaio.zig");
const psync = @import("engine/psync.zig");

pub const Op = common.Op;

/// aiobench's own error codes, returned negated, outside the errno range.
pub const code_short: i32 = 1001;
pub const code_busy: i32 = 1002;
pub const code_cancelled: i32 = 1003;
/// A completion named a slot that has no IO in flight (an invalid or repeated user_data).
pub const code_bad_completion: i32 = 1004;

/// Default bound on a lane's wait for any completion before it gives up (ETIMEDOUT).
pub const wait_max_ns_default: u64 = 120 * std.time.ns_per_s;
/// One reap waits at most this long, so a stalled lane notices its bound.
const wait_slice_ns_max: u64 = 1 * std.time.ns_per_s;

pub const queue_depth_max: u32 = 4096;
pub const io_parallel_max: u32 = 64;

pub const EngineKind = enum(u8) { io_uring = 0, libaio = 1, psync = 2 };

pub const Config = struct {
    block_size: u64,
    queue_depth: u32,
    io_parallel: u32,
    single_submit: bool,
    overlap_events: bool,
    engine: EngineKind,
    engine_options: common.Options,
    align_bytes: u64,
    latency: bool,
    fault: Fault,
    /// A lane that sees no completion for this long abandons its IO with ETIMEDOUT.
    wait_max_ns: u64 = wait_max_ns_default,
};

/// Test-only fault switch, read from AIOBENCH_FAULT once per handle: "eio@N" or "short@N"
/// makes the Nth completion (1-based, across the handle) fail with EIO or come back short;
/// "cqe@N" gives it a user_data that names no slot in flight; "dup@N" delivers it twice (the
/// second copy names a slot whose IO already completed).
pub const Fault = struct {
    kind: enum { none, eio, short, cqe, dup } = .none,
    at: u64 = 0,

    pub fn parse(text: ?[]const u8) Fault {
        const spec = text orelse return .{};
        const at_index = std.mem.indexOfScalar(u8, spec, '@') orelse return .{};
        const n = std.fmt.parseInt(u64, spec[at_index + 1 ..], 10) catch return .{};
        if (std.mem.eql(u8, spec[0..at_index], "eio")) return .{ .kind = .eio, .at = n };
        if (std.mem.eql(u8, spec[0..at_index], "short")) return .{ .kind = .short, .at = n };
        if (std.mem.eql(u8, spec[0..at_index], "cqe")) return .{ .kind = .cqe, .at = n };
        if (std.mem.eql(u8, spec[0..at_index], "dup")) return .{ .kind = .dup, .at = n };
        return .{};
    }
};

pub const Mode = enum(u8) { read = 0, write = 1, randread = 2, randwrite = 3, randrw = 4 };

/// One request: move [file_offset, file_offset + nbytes) between fd and buf.
pub const Request = struct {
    mode: Mode,
    fd: i32,
    buf_addr: u64,
    buf_len: u64,
    file_offset: u64,
    nbytes: u64,
    rwmix_read_pct: u32 = 50,
    seed: u64 = 0,
    runtime_ns: u64 = 0,
    time_based: bool = false,
    /// Slot buffers (as fio): each in-flight IO of a lane uses its own block_size piece of buf
    /// (lane i's pieces start at i * queue_depth * block_size), instead of the region's bytes.
    slot_buffers: bool = false,
};

pub const Counters = struct {
    ios: u64 = 0,
    bytes: u64 = 0,
    errors: u64 = 0,
    short_resubmits: u64 = 0,
    cpu_user_ns: u64 = 0,
    cpu_sys_ns: u64 = 0,
};

/// One closed interval of a lane's --log_interval series.
pub const IntervalRecord = struct {
    /// Interval number: it covers [index, index + 1) × interval_ns from the lane's origin.
    index: u64,
    /// When the lane noticed the interval's end (ns from its origin); for a still-open
    /// interval, its last completion.
    end_ns: u64,
    bytes: u64,
    ios: u64,
    /// p99 completion latency of the interval's IOs (0 without latency recording).
    p99_ns: u64,
};

pub const interval_records_max: u32 = 4096;

/// Per-lane --log_interval state, allocated only when an interval is set.
const IntervalLog = struct {
    interval_ns: u64,
    records: []IntervalRecord,
    count: u32 = 0,
    dropped: u64 = 0,
    /// CLOCK_MONOTONIC origin, set by the first request after a reset (0 = not yet).
    origin_ns: u64 = 0,
    index: u64 = 0,
    next_ns: u64 = 0,
    last_ns: u64 = 0,
    bytes_at_start: u64 = 0,
    ios_at_start: u64 = 0,
    /// The histogram at the start of the open interval (the interval's p99 is from the diff).
    snapshot: *histogram.Histogram,

    fn init(allocator: std.mem.Allocator, interval_ns: u64) !IntervalLog {
        assert(interval_ns > 0);
        const records = try allocator.alloc(IntervalRecord, interval_records_max);
        errdefer allocator.free(records);
        const snapshot = try allocator.create(histogram.Histogram);
        snapshot.* = .{};
        return .{ .interval_ns = interval_ns, .records = records, .snapshot = snapshot };
    }

    fn deinit(self: *IntervalLog, allocator: std.mem.Allocator) void {
        allocator.free(self.records);
        allocator.destroy(self.snapshot);
    }

    fn reset(self: *IntervalLog) void {
        self.count = 0;
        self.dropped = 0;
        self.origin_ns = 0;
        self.snapshot.reset();
    }

    /// Called at the start of each request: the first one after a reset fixes the origin.
    fn begin(self: *IntervalLog, now_ns: u64, counters: *const Counters, h: *const histogram.Histogram) void {
        if (self.origin_ns != 0) return;
        self.origin_ns = now_ns;
        self.index = 0;
        self.next_ns = now_ns + self.interval_ns;
        self.last_ns = now_ns;
        self.bytes_at_start = counters.bytes;
        self.ios_at_start = counters.ios;
        self.snapshot.* = h.*;
    }

    /// Closes the open interval once now_ns is past its end (cold: once per interval).
    fn tick(self: *IntervalLog, now_ns: u64, counters: *const Counters, h: *const histogram.Histogram) void {
        self.last_ns = now_ns;
        if (now_ns < self.next_ns) return;
        if (self.count < self.records.len) {
            self.records[self.count] = self.open(now_ns, counters, h);
            self.count += 1;
        } else self.dropped += 1;
        self.index = (now_ns - self.origin_ns) / self.interval_ns;
        self.next_ns = self.origin_ns + (self.index + 1) * self.interval_ns;
        self.bytes_at_start = counters.bytes;
        self.ios_at_start = counters.ios;
        self.snapshot.* = h.*;
    }

    /// The open interval as a record (ending at end_ns).
    fn open(self: *const IntervalLog, end_ns: u64, counters: *const Counters, h: *const histogram.Histogram) IntervalRecord {
        return .{
            .index = self.index,
            .end_ns = end_ns -| self.origin_ns,
            .bytes = counters.bytes - self.bytes_at_start,
            .ios = counters.ios - self.ios_at_start,
            .p99_ns = histogram.quantileOfDiff(h, self.snapshot, 0.99),
        };
    }
};

pub const ErrorInfo = struct {
    code: i32 = 0,
    op: Op = .read,
    offset: u64 = 0,
    len: u64 = 0,
    got: u64 = 0,
};

const Slot = struct {
    /// Set from issue until the IO's final completion: a slot is in use iff its IO is in flight.
    in_flight: bool = false,
    op: Op,
    offset: u64,
    len: u64,
    done: u64,
    addr: u64,
    submit_ns: u64,
    fault_zero: bool,
};

const AnyEngine = union(EngineKind) {
    io_uring: io_uring.Engine,
    libaio: libaio.Engine,
    psync: psync.Engine,

    fn init(allocator: std.mem.Allocator, kind: EngineKind, options: common.Options) !AnyEngine {
        return switch (kind) {
            .io_uring => .{ .io_uring = try io_uring.Engine.init(allocator, options) },
            .libaio => .{ .libaio = try libaio.Engine.init(allocator, options) },
            .psync => .{ .psync = try psync.Engine.init(allocator, options) },
        };
    }

    fn deinit(self: *AnyEngine, allocator: std.mem.Allocator) void {
        switch (self.*) {
            inline else => |*e| e.deinit(allocator),
        }
    }

    inline fn prep(self: *AnyEngine, io: common.Io) void {
        switch (self.*) {
            inline else => |*e| e.prep(io),
        }
    }

    inline fn submit(self: *AnyEngine) i32 {
        return switch (self.*) {
            inline else => |*e| e.submit(),
        };
    }

    inline fn reap(self: *AnyEngine, min: u32, out: []common.Completion, timeout_ns: u64) i32 {
        return switch (self.*) {
            inline else => |*e| e.reap(min, out, timeout_ns),
        };
    }

    /// The IORING_SETUP_* flags of an io_uring ring (0 for the other engines).
    fn setupFlags(self: *const AnyEngine) u32 {
        return switch (self.*) {
            .io_uring => |*e| e.setup_flags,
            else => 0,
        };
    }

    fn attach(self: *AnyEngine, fd: i32, addr: u64, len: u64) i32 {
        return switch (self.*) {
            inline else => |*e| e.attach(fd, addr, len),
        };
    }

    /// IOs the engine holds that haven't been handed out as completions: prepared, in the
    /// kernel, or completed but not yet reaped. 0 between requests of a lane in good standing.
    pub fn outstanding(self: *AnyEngine) u64 {
        return switch (self.*) {
            // With SQPOLL, in_kernel counts every flushed SQE (the SQ ring's head may lag).
            .io_uring => |*e| @as(u64, e.in_kernel) + e.ring.cq_ready() +
                if (e.options.sqpoll) e.ring.sq.sqe_tail -% e.ring.sq.sqe_head else e.ring.sq_ready(),
            .libaio => |*e| @as(u64, e.in_kernel) + e.pending_count + e.held_count,
            .psync => |*e| @as(u64, e.pending_count) + e.done_count,
        };
    }

    fn calls(self: *const AnyEngine) [2]u64 {
        return switch (self.*) {
            inline else => |*e| .{ e.enter_calls, e.sqes_submitted },
        };
    }

    fn addCalls(self: *AnyEngine, calls_before: [2]u64) void {
        switch (self.*) {
            inline else => |*e| {
                e.enter_calls += calls_before[0];
                e.sqes_submitted += calls_before[1];
            },
        }
    }

    fn resetCalls(self: *AnyEngine) void {
        switch (self.*) {
            inline else => |*e| {
                e.enter_calls = 0;
                e.sqes_submitted = 0;
            },
        }
    }
};

/// Where a lane is within its slice of a request; produces the next IO.
const Cursor = struct {
    request: Request,
    slice_start: u64,
    slice_end: u64,
    next: u64,
    ios_left: u64,
    deadline_ns: u64,
    prng: std.Random.DefaultPrng,

    fn init(request: Request, slice_start: u64, slice_end: u64, block_size: u64, start_ns: u64, lane_index: u64) Cursor {
        assert(slice_start <= slice_end);
        const blocks = std.math.divCeil(u64, slice_end - slice_start, block_size) catch unreachable;
        return .{
            .request = request,
            .slice_start = slice_start,
            .slice_end = slice_end,
            .next = slice_start,
            .ios_left = if (request.time_based) std.math.maxInt(u64) else blocks,
            .deadline_ns = if (request.runtime_ns > 0) start_ns + request.runtime_ns else 0,
            .prng = std.Random.DefaultPrng.init(request.seed ^ (lane_index *% 0x9E3779B97F4A7C15)),
        };
    }

    fn done(self: *const Cursor, now_ns: u64) bool {
        if (self.slice_end == self.slice_start) return true;
        if (self.deadline_ns != 0 and now_ns >= self.deadline_ns) return true;
        return self.ios_left == 0;
    }

    /// Relative offset (from the request's start) and op of the next IO.
    fn take(self: *Cursor, block_size: u64) struct { offset: u64, len: u64, op: Op } {
        assert(self.ios_left > 0);
        self.ios_left -= 1;
        const mode = self.request.mode;
        var offset: u64 = undefined;
        if (mode == .read or mode == .write) {
            if (self.next >= self.slice_end) self.next = self.slice_start; // time_based wraps
            offset = self.next;
            self.next += block_size;
        } else {
            const blocks = std.math.divCeil(u64, self.slice_end - self.slice_start, block_size) catch unreachable;
            offset = self.slice_start + self.prng.random().uintLessThan(u64, blocks) * block_size;
        }
        const op: Op = switch (mode) {
            .read, .randread => .read,
            .write, .randwrite => .write,
            .randrw => if (self.prng.random().uintLessThan(u32, 100) < self.request.rwmix_read_pct) .read else .write,
        };
        return .{ .offset = offset, .len = @min(block_size, self.slice_end - offset), .op = op };
    }
};

pub const Lane = struct {
    handle: *Handle,
    index: u32,
    engine: AnyEngine,
    slots: []Slot,
    slots_free: []u32,
    slots_free_count: u32,
    completions: []common.Completion,
    histogram: histogram.Histogram = .{},
    counters: Counters = .{},
    failure: ErrorInfo = .{},
    thread: ?std.Thread = null,
    start_event: std.Thread.ResetEvent = .{},
    done_event: std.Thread.ResetEvent = .{},
    quit: bool = false,
    job: ?Cursor = null,
    job_result: i64 = 0,
    intervals: ?IntervalLog = null,
    /// The engine was given up on with IO possibly still in flight (engine error, bad
    /// completion, wait bound): its ring must not be reaped again, so the next request on
    /// this lane gets a fresh engine.
    abandoned: bool = false,

    fn init(self: *Lane, handle: *Handle, index: u32) !void {
        const allocator = handle.allocator;
        const qd = handle.config.queue_depth;
        self.* = .{
            .handle = handle,
            .index = index,
            .engine = try AnyEngine.init(allocator, handle.config.engine, handle.config.engine_options),
            .slots = undefined,
            .slots_free = undefined,
            .slots_free_count = qd,
            .completions = undefined,
        };
        errdefer self.engine.deinit(allocator);
        self.slots = try allocator.alloc(Slot, qd);
        errdefer allocator.free(self.slots);
        self.slots_free = try allocator.alloc(u32, qd);
        errdefer allocator.free(self.slots_free);
        // One spare entry: the "dup" fault appends a copy of a completion to a full batch.
        self.completions = try allocator.alloc(common.Completion, qd + 1);
        for (self.slots_free, 0..) |*s, i| s.* = @intCast(qd - 1 - i);
    }

    fn deinit(self: *Lane) void {
        const allocator = self.handle.allocator;
        if (self.intervals) |*log| log.deinit(allocator);
        self.engine.deinit(allocator);
        allocator.free(self.slots);
        allocator.free(self.slots_free);
        allocator.free(self.completions);
    }

    fn threadMain(self: *Lane) void {
        while (true) {
            self.start_event.wait();
            self.start_event.reset();
            if (@atomicLoad(bool, &self.quit, .acquire)) return;
            self.job_result = self.runTimed(&self.job.?);
            self.done_event.set();
        }
    }

    fn runTimed(self: *Lane, cursor: *Cursor) i64 {
        const before = threadCpu();
        const result = self.run(cursor);
        const after = threadCpu();
        self.counters.cpu_user_ns += after[0] -| before[0];
        self.counters.cpu_sys_ns += after[1] -| before[1];
        return result;
    }

    /// Drives one slice through the engine with the handle's queue policy. Returns bytes moved
    /// or a negative code; on error it stops issuing, drains what is in flight, then returns.
    fn run(self: *Lane, cursor: *Cursor) i64 {
        const config = &self.handle.config;
        const request = &cursor.request;
        if (self.abandoned) {
            const rc_renew = self.renewEngine();
            if (rc_renew < 0) return self.fail(rc_renew, .{ .op = .read, .offset = request.file_offset, .len = 0, .got = 0 });
        }
        // A lane is reused only on an engine that holds none of an earlier request's IO.
        assert(!self.abandoned and self.engine.outstanding() == 0);
        assert(self.slots_free_count == self.slots.len);
        const rc_attach = self.engine.attach(request.fd, request.buf_addr, request.buf_len);
        if (rc_attach < 0) return self.fail(rc_attach, .{ .op = .read, .offset = request.file_offset, .len = 0, .got = 0 });
        const qd = config.queue_depth;
        var inflight: u32 = 0;
        var bytes: u64 = 0;
        var stopping = false;
        // Every IO issued completes exactly once: counted both ways, equal at the end.
        var issued: u64 = 0;
        var finished: u64 = 0;
        const wait_slice_ns = @min(wait_slice_ns_max, config.wait_max_ns);
        const idle_waits_max = std.math.divCeil(u64, config.wait_max_ns, wait_slice_ns) catch unreachable;
        var idle_waits: u64 = 0;
        var now = common.nowNs();
        if (self.intervals) |*log| log.begin(now, &self.counters, &self.histogram);
        const clocked = config.latency or cursor.deadline_ns != 0 or self.intervals != null;
        while (true) {
            if (!stopping and (config.overlap_events or inflight == 0)) {
                stopping = @atomicLoad(bool, &self.handle.cancelled, .monotonic);
                if (stopping) _ = self.fail(-code_cancelled, .{ .op = .read, .offset = 0, .len = 0, .got = 0 });
                // Stamp this batch just before it is prepared and submitted (not at the
                // previous reap), so completion processing isn't counted as IO latency.
                if (config.latency and inflight < qd) now = common.nowNs();
                while (!stopping and inflight < qd and !cursor.done(now)) {
                    const io = cursor.take(config.block_size);
                    self.issue(io.op, request, io.offset, io.len, now);
                    inflight += 1;
                    issued += 1;
                    assert(inflight + self.slots_free_count == qd);
                    if (config.single_submit) {
                        const rc = self.engine.submit();
                        if (rc < 0) return self.abandon(rc);
                    }
                }
            }
            if (inflight == 0) break;
            const min: u32 = if (config.overlap_events) 1 else inflight;
            var n = self.engine.reap(min, self.completions[0..qd], wait_slice_ns);
            if (n < 0) return self.abandon(n);
            if (config.fault.kind == .dup) n = self.handle.duplicateCompletion(self.completions, @intCast(n));
            if (n == 0) {
                // The wait timed out with nothing done: bounded, then the IO is given up on.
                idle_waits += 1;
                if (idle_waits >= idle_waits_max) return self.abandon(-@as(i32, @intFromEnum(linux.E.TIMEDOUT)));
                continue;
            }
            idle_waits = 0;
            if (clocked) now = common.nowNs();
            for (self.completions[0..@intCast(n)]) |raw| {
                const c = if (config.fault.kind == .cqe) self.handle.corruptSlot(raw) else raw;
                // Every CQE must name a slot whose IO is in flight; anything else means the
                // ring can't be trusted (and the slot array must not be indexed with it).
                if (c.slot >= self.slots.len or !self.slots[c.slot].in_flight) return self.abandon(-code_bad_completion);
                const outcome = self.complete(c, request, now, stopping);
                if (outcome) |moved| {
                    inflight -= 1;
                    finished += 1;
                    assert(inflight + self.slots_free_count == qd);
                    if (moved >= 0) bytes += @intCast(moved) else stopping = true;
                }
            }
            if (self.intervals) |*log| log.tick(now, &self.counters, &self.histogram);
        }
        assert(issued == finished);
        assert(self.slots_free_count == self.slots.len);
        assert(self.engine.outstanding() == 0);
        if (self.failure.code != 0) return -@as(i64, self.failure.code);
        return @intCast(bytes);
    }

    fn issue(self: *Lane, op: Op, request: *const Request, offset_rel: u64, len: u64, now: u64) void {
        assert(self.slots_free_count > 0);
        self.slots_free_count -= 1;
        const slot_index = self.slots_free[self.slots_free_count];
        assert(!self.slots[slot_index].in_flight);
        self.slots[slot_index] = .{
            .in_flight = true,
            .op = op,
            .offset = request.file_offset + offset_rel,
            .len = len,
            .done = 0,
            .addr = if (request.slot_buffers) self.slotAddress(request, slot_index) else request.buf_addr + offset_rel,
            .submit_ns = now,
            .fault_zero = false,
        };
        self.prepSlot(slot_index, request.fd);
    }

    fn slotAddress(self: *const Lane, request: *const Request, slot_index: u32) u64 {
        const config = &self.handle.config;
        const lane_base = @as(u64, self.index -| 1) * config.queue_depth * config.block_size;
        return request.buf_addr + lane_base + @as(u64, slot_index) * config.block_size;
    }

    fn prepSlot(self: *Lane, slot_index: u32, fd: i32) void {
        const slot = &self.slots[slot_index];
        // O_DIRECT needs aligned lengths: a tail shorter than the alignment is rounded up (the
        // buffer is allocated rounded up); a read then returns the bytes up to EOF, a write
        // writes the padding and the file is truncated back to size after the request.
        const remaining = slot.len - slot.done;
        const io_len = std.mem.alignForward(u64, remaining, self.handle.config.align_bytes);
        self.engine.prep(.{
            .slot = slot_index,
            .op = slot.op,
            .fd = fd,
            .addr = slot.addr + slot.done,
            .len = @intCast(io_len),
            .offset = slot.offset + slot.done,
        });
    }

    /// Handles one completion. Null while the slot's IO goes on (resubmitted remainder);
    /// otherwise the bytes it moved, or -1 when it failed.
    fn complete(self: *Lane, c: common.Completion, request: *const Request, now: u64, stopping: bool) ?i64 {
        const slot = &self.slots[c.slot];
        var res = c.res;
        self.handle.injectFault(&res, slot);
        const remaining = slot.len - slot.done;
        if (res < 0 or (res == 0 and remaining > 0)) {
            const code: i32 = if (res < 0) @intCast(-res) else code_short;
            _ = self.fail(-code, .{ .op = slot.op, .offset = slot.offset + slot.done, .len = remaining, .got = 0 });
            return self.release(c.slot, -1);
        }
        const got: u64 = @intCast(res);
        if (got < remaining) {
            // A short transfer that ends off the alignment means the file ended early.
            if (got % self.handle.config.align_bytes != 0 or stopping) {
                _ = self.fail(-code_short, .{ .op = slot.op, .offset = slot.offset + slot.done, .len = remaining, .got = got });
                return self.release(c.slot, -1);
            }
            slot.done += got;
            self.counters.short_resubmits += 1;
            self.prepSlot(c.slot, request.fd);
            return null;
        }
        if (self.handle.config.latency) self.histogram.record(now -| slot.submit_ns);
        self.counters.ios += 1;
        self.counters.bytes += slot.len;
        return self.release(c.slot, @intCast(slot.len));
    }

    fn release(self: *Lane, slot_index: u32, moved: i64) i64 {
        assert(self.slots_free_count < self.slots_free.len);
        assert(self.slots[slot_index].in_flight);
        self.slots[slot_index].in_flight = false;
        self.slots_free[self.slots_free_count] = slot_index;
        self.slots_free_count += 1;
        return moved;
    }

    fn fail(self: *Lane, code: i32, info: ErrorInfo) i64 {
        assert(code < 0);
        // A stop the user asked for is not an IO error.
        if (code != -code_cancelled) self.counters.errors += 1;
        if (self.failure.code == 0) {
            self.failure = info;
            self.failure.code = -code;
        }
        return code;
    }

    /// The engine failed, a completion was invalid or the wait bound passed: in-flight IOs
    /// can't be reaped safely, so every slot is returned and the lane is marked; its next
    /// request replaces the engine (the old ring is left to the kernel's teardown).
    fn abandon(self: *Lane, code: i32) i64 {
        _ = self.fail(code, .{ .op = .read, .offset = 0, .len = 0, .got = 0 });
        self.abandoned = true;
        for (self.slots) |*s| s.in_flight = false;
        self.slots_free_count = @intCast(self.slots_free.len);
        for (self.slots_free, 0..) |*s, i| s.* = @intCast(i);
        return code;
    }

    /// Closes the abandoned engine (the kernel finishes or cancels what it still holds, on
    /// its own ring) and opens a fresh one, so no stale completion can reach this lane.
    fn renewEngine(self: *Lane) i32 {
        assert(self.abandoned);
        const allocator = self.handle.allocator;
        // The fresh engine first: if it can't be made, the lane stays abandoned as it was.
        var fresh = AnyEngine.init(allocator, self.handle.config.engine, self.handle.config.engine_options) catch |err| {
            return -@as(i32, @intFromEnum(@as(linux.E, if (err == error.OutOfMemory) .NOMEM else .AGAIN)));
        };
        fresh.addCalls(self.engine.calls());
        self.engine.deinit(allocator);
        self.engine = fresh;
        self.abandoned = false;
        return 0;
    }
};

pub const Handle = struct {
    allocator: std.mem.Allocator,
    config: Config,
    /// lanes[0] serves synchronous calls; lanes[1..] are the io_parallel threads.
    lanes: []Lane,
    pending: bool = false,
    pending_truncate: ?struct { fd: i32, size: u64 } = null,
    cancelled: bool = false,
    completions_seen: u64 = 0,

    pub fn create(allocator: std.mem.Allocator, config: Config) !*Handle {
        assert(config.queue_depth >= 1 and config.queue_depth <= queue_depth_max);
        assert(config.io_parallel <= io_parallel_max);
        assert(std.math.isPowerOfTwo(config.align_bytes));
        const self = try allocator.create(Handle);
        errdefer allocator.destroy(self);
        self.* = .{ .allocator = allocator, .config = config, .lanes = undefined };
        self.lanes = try allocator.alloc(Lane, 1 + config.io_parallel);
        errdefer allocator.free(self.lanes);
        var ready: usize = 0;
        errdefer for (self.lanes[0..ready]) |*lane| lane.deinit();
        for (self.lanes, 0..) |*lane, i| {
            try lane.init(self, @intCast(i));
            ready += 1;
        }
        var started: usize = 1;
        errdefer self.stopThreads(started);
        for (self.lanes[1..]) |*lane| {
            lane.thread = try std.Thread.spawn(.{ .stack_size = 256 * 1024 }, Lane.threadMain, .{lane});
            started += 1;
        }
        return self;
    }

    pub fn destroy(self: *Handle) void {
        if (self.pending) _ = self.wait();
        self.stopThreads(self.lanes.len);
        for (self.lanes) |*lane| lane.deinit();
        self.allocator.free(self.lanes);
        self.allocator.destroy(self);
    }

    fn stopThreads(self: *Handle, count: usize) void {
        for (self.lanes[1..count]) |*lane| {
            @atomicStore(bool, &lane.quit, true, .release);
            lane.start_event.set();
            if (lane.thread) |t| t.join();
            lane.thread = null;
        }
    }

    /// Synchronous: the caller's thread drives lane 0 over the whole request.
    pub fn runSync(self: *Handle, request: Request) i64 {
        if (self.pending) return -code_busy;
        const lane = &self.lanes[0];
        lane.failure = .{};
        var cursor = Cursor.init(request, 0, request.nbytes, self.config.block_size, common.nowNs(), 0);
        const rc = lane.runTimed(&cursor);
        if (rc >= 0) return self.finishWrite(request, rc);
        return rc;
    }

    /// Asynchronous: splits the request into io_parallel contiguous, block-aligned slices, one
    /// per lane thread, and returns once they are handed over; wait() collects them.
    pub fn start(self: *Handle, request: Request) i32 {
        if (self.pending) return -code_busy;
        if (self.config.io_parallel == 0) {
            const rc = self.runSync(request);
            self.lanes[0].job_result = rc;
            self.pending = true;
            return 0;
        }
        const n = self.config.io_parallel;
        const blocks = std.math.divCeil(u64, request.nbytes, self.config.block_size) catch unreachable;
        const blocks_per_lane = std.math.divCeil(u64, blocks, n) catch unreachable;
        const now = common.nowNs();
        for (self.lanes[1..], 0..) |*lane, i| {
            const start_rel = @min(request.nbytes, i * blocks_per_lane * self.config.block_size);
            const end_rel = @min(request.nbytes, (i + 1) * blocks_per_lane * self.config.block_size);
            lane.failure = .{};
            lane.job = Cursor.init(request, start_rel, end_rel, self.config.block_size, now, i + 1);
            lane.start_event.set();
        }
        self.pending_truncate = if (self.needsTruncate(request)) .{ .fd = request.fd, .size = request.file_offset + request.nbytes } else null;
        self.pending = true;
        return 0;
    }

    pub fn wait(self: *Handle) i64 {
        if (!self.pending) return 0;
        self.pending = false;
        if (self.config.io_parallel == 0) return self.lanes[0].job_result;
        var total: u64 = 0;
        var first_error: i64 = 0;
        for (self.lanes[1..]) |*lane| {
            lane.done_event.wait();
            lane.done_event.reset();
            if (lane.job_result < 0 and first_error == 0) first_error = lane.job_result;
            if (lane.job_result >= 0) total += @intCast(lane.job_result);
        }
        if (first_error != 0) return first_error;
        if (self.pending_truncate) |t| {
            const rc = linux.ftruncate(t.fd, @intCast(t.size));
            if (common.errnoOf(rc) != 0) return -@as(i64, common.errnoOf(rc));
        }
        return @intCast(total);
    }

    fn needsTruncate(self: *const Handle, request: Request) bool {
        const writes = request.mode == .write or request.mode == .randwrite or request.mode == .randrw;
        return writes and (request.file_offset + request.nbytes) % self.config.align_bytes != 0;
    }

    fn finishWrite(self: *Handle, request: Request, moved: i64) i64 {
        if (!self.needsTruncate(request)) return moved;
        const rc = linux.ftruncate(request.fd, @intCast(request.file_offset + request.nbytes));
        if (common.errnoOf(rc) != 0) return -@as(i64, common.errnoOf(rc));
        return moved;
    }

    /// Fault "cqe@N": the Nth completion names a slot past the end of the array.
    fn corruptSlot(self: *Handle, c: common.Completion) common.Completion {
        const seen = @atomicRmw(u64, &self.completions_seen, .Add, 1, .monotonic) + 1;
        if (seen != self.config.fault.at) return c;
        return .{ .slot = @intCast(self.config.queue_depth), .res = c.res };
    }

    /// Fault "dup@N": the Nth completion comes again at the end of its batch. Returns the
    /// batch's new length.
    fn duplicateCompletion(self: *Handle, batch: []common.Completion, n: u32) i32 {
        assert(n < batch.len);
        for (batch[0..n]) |c| {
            const seen = @atomicRmw(u64, &self.completions_seen, .Add, 1, .monotonic) + 1;
            if (seen != self.config.fault.at) continue;
            batch[n] = c;
            return @intCast(n + 1);
        }
        return @intCast(n);
    }

    fn injectFault(self: *Handle, res: *i64, slot: *Slot) void {
        if (self.config.fault.kind == .none or self.config.fault.kind == .cqe or self.config.fault.kind == .dup) return;
        if (slot.fault_zero) {
            res.* = 0;
            return;
        }
        const seen = @atomicRmw(u64, &self.completions_seen, .Add, 1, .monotonic) + 1;
        if (seen != self.config.fault.at or res.* <= 0) return;
        switch (self.config.fault.kind) {
            .eio => res.* = -@as(i64, @intFromEnum(linux.E.IO)),
            .short => {
                const half = std.mem.alignBackward(u64, @as(u64, @intCast(res.*)) / 2, self.config.align_bytes);
                res.* = @intCast(half);
                slot.fault_zero = true;
            },
            .none, .cqe, .dup => unreachable,
        }
    }

    /// Bytes of buffer a request needs: its region, or every lane's slots with slot buffers.
    pub fn bufferBytesNeeded(self: *const Handle, nbytes: u64, slot_buffers: bool) u64 {
        if (!slot_buffers) return nbytes;
        return @as(u64, @max(1, self.config.io_parallel)) * self.config.queue_depth * self.config.block_size;
    }

    pub fn counters(self: *const Handle) Counters {
        var sum = Counters{};
        inline for (std.meta.fields(Counters)) |f| {
            for (self.lanes) |*lane| @field(sum, f.name) += @field(lane.counters, f.name);
        }
        return sum;
    }

    pub fn engineCalls(self: *const Handle) [2]u64 {
        var sum = [2]u64{ 0, 0 };
        for (self.lanes) |*lane| {
            const c = lane.engine.calls();
            sum[0] += c[0];
            sum[1] += c[1];
        }
        return sum;
    }

    /// The io_uring setup flags of the handle's rings (every lane's are alike).
    pub fn ringSetupFlags(self: *const Handle) u32 {
        return self.lanes[0].engine.setupFlags();
    }

    pub fn mergedHistogram(self: *const Handle, into: *histogram.Histogram) void {
        into.reset();
        for (self.lanes) |*lane| into.merge(&lane.histogram);
    }

    pub fn resetStats(self: *Handle) void {
        for (self.lanes) |*lane| {
            lane.counters = .{};
            lane.histogram.reset();
            lane.engine.resetCalls();
            if (lane.intervals) |*log| log.reset();
        }
    }

    /// Sets (or, with 0, removes) the --log_interval of every lane. Cold path; not while a
    /// request is in flight.
    pub fn setLogInterval(self: *Handle, interval_ns: u64) !void {
        if (self.pending) return error.Busy;
        for (self.lanes) |*lane| {
            if (lane.intervals) |*log| log.deinit(self.allocator);
            lane.intervals = null;
        }
        if (interval_ns == 0) return;
        var ready: usize = 0;
        errdefer for (self.lanes[0..ready]) |*lane| {
            lane.intervals.?.deinit(self.allocator);
            lane.intervals = null;
        };
        for (self.lanes) |*lane| {
            lane.intervals = try IntervalLog.init(self.allocator, interval_ns);
            ready += 1;
        }
    }

    /// How many interval records there are: every lane's closed intervals, then its open one
    /// (if it saw IO), lane by lane.
    pub fn intervalCount(self: *const Handle) usize {
        var n: usize = 0;
        for (self.lanes) |*lane| n += laneRecordCount(lane);
        return n;
    }

    fn laneRecordCount(lane: *const Lane) usize {
        const log = if (lane.intervals) |*l| l else return 0;
        if (log.origin_ns == 0) return 0;
        return log.count + @intFromBool(lane.counters.ios != log.ios_at_start);
    }

    /// Fills out with records first..first+out.len (in intervalRecords' order); returns how
    /// many it wrote.
    pub fn intervalRecordsFrom(self: *const Handle, first: usize, out: []IntervalRecord) usize {
        var skip = first;
        var n: usize = 0;
        for (self.lanes) |*lane| {
            const lane_count = laneRecordCount(lane);
            if (skip >= lane_count) {
                skip -= lane_count;
                continue;
            }
            const log = &lane.intervals.?;
            var i = skip;
            skip = 0;
            while (i < lane_count and n < out.len) : (i += 1) {
                out[n] = if (i < log.count) log.records[i] else log.open(log.last_ns, &lane.counters, &lane.histogram);
                n += 1;
            }
            if (n == out.len) break;
        }
        return n;
    }

    pub fn intervalsDropped(self: *const Handle) u64 {
        var sum: u64 = 0;
        for (self.lanes) |*lane| if (lane.intervals) |*log| {
            sum += log.dropped;
        };
        return sum;
    }

    pub fn lastError(self: *const Handle) ErrorInfo {
        for (self.lanes) |*lane| if (lane.failure.code != 0) return lane.failure;
        return .{};
    }
};

fn threadCpu() [2]u64 {
    var usage: linux.rusage = undefined;
    _ = linux.getrusage(linux.rusage.THREAD, &usage);
    const user = @as(u64, @intCast(usage.utime.sec)) * std.time.ns_per_s + @as(u64, @intCast(usage.utime.usec)) * std.time.ns_per_us;
    const sys = @as(u64, @intCast(usage.stime.sec)) * std.time.ns_per_s + @as(u64, @intCast(usage.stime.usec)) * std.time.ns_per_us;
    return .{ user, sys };
}
