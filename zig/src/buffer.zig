//! Physical page order of IO buffers.
//!
//! The block layer merges the pages of an O_DIRECT IO into one segment while each page follows
//! the previous one physically; a device takes a bounded number of segments per request
//! (max_segments: 128 on a loop device, ~127 on NVMe). Pages faulted in one after another
//! usually come out in ascending physical order, but pages that another process has just freed
//! often come back in descending order (the allocator's free lists are LIFO): then no two pages
//! merge, a 1 MiB IO needs 256 segments, and the block layer splits it into two 512 KiB
//! requests. Which of the two a run gets depends on what ran before it, not on the storage: the
//! same command measured ~12% apart on a loop device (t2 qd32 1M reads, docs/performance.md).
//! Back-to-back runs of aiobench itself hit this every other time (measured: 4,000 vs 2,200 loop
//! requests per 2 GiB read, 20% apart in E2E GB/s). `orderPages` checks every 2 MiB chunk
//! through /proc/self/pagemap and faults a chunk that came out descending in again, or one that
//! came out scattered from fresh pages. Physical frame numbers are visible to CAP_SYS_ADMIN
//! only: without it the buffer is left as the kernel gave it. Same size, same alignment, same
//! kind of pages (4 KiB, not huge): only their physical order changes.
const std = @import("std");
const linux = std.os.linux;

const chunk_bytes: usize = 2 << 20;
const pfn_mask: u64 = (1 << 55) - 1;
const present_bit: u64 = 1 << 63;
const madv_populate_write: u32 = 23;
/// How often one chunk is freed and faulted in again (reversed), or set aside for fresh pages
/// (scattered), before it is left as it is.
const max_flips = 4;
const max_asides = 3;

/// Page pairs of a range: how many, and how many follow each other physically, or precede.
pub const Order = struct {
    pairs: u64 = 0,
    ascending: u64 = 0,
    descending: u64 = 0,

    fn add(self: *Order, other: Order) void {
        self.pairs += other.pairs;
        self.ascending += other.ascending;
        self.descending += other.descending;
    }
};

/// What orderPages did.
pub const Outcome = struct {
    /// false: physical frame numbers aren't readable here (no CAP_SYS_ADMIN, no pagemap).
    checked: bool = false,
    refaulted_chunks: u64 = 0,
    order: Order = .{},
};

fn pageSize() usize {
    return std.heap.pageSize();
}

/// Fills `frames` with the frame numbers of the pages of [ptr, ptr + frames.len pages); false
/// when pagemap can't be read or hides them (every present page reads as frame 0).
fn readFrames(fd: i32, ptr: [*]const u8, frames: []u64) bool {
    const page = pageSize();
    const offset = (@intFromPtr(ptr) / page) * @sizeOf(u64);
    const want = frames.len * @sizeOf(u64);
    const rc = linux.pread(fd, @ptrCast(frames.ptr), want, @intCast(offset));
    if (linux.E.init(rc) != .SUCCESS or rc != want) return false;
    var visible = false;
    for (frames) |*f| {
        if (f.* & present_bit == 0) return false;
        f.* &= pfn_mask;
        if (f.* != 0) visible = true;
    }
    return visible;
}

fn countOrder(frames: []const u64) Order {
    var o: Order = .{};
    if (frames.len < 2) return o;
    for (frames[1..], frames[0 .. frames.len - 1]) |b, a| {
        o.pairs += 1;
        if (b == a + 1) o.ascending += 1 else if (b + 1 == a) o.descending += 1;
    }
    return o;
}

/// Faults [ptr, ptr + len) in (MADV_POPULATE_WRITE, 5.14+; else touches each page).
pub fn faultIn(ptr: [*]u8, len: usize) void {
    if (linux.E.init(linux.madvise(ptr, len, madv_populate_write)) == .SUCCESS) return;
    var at: usize = 0;
    while (at < len) : (at += pageSize()) @as(*volatile u8, &ptr[at]).* = 0;
}

fn openPagemap() ?i32 {
    const rc = linux.open("/proc/self/pagemap", .{ .CLOEXEC = true }, 0);
    if (linux.E.init(rc) != .SUCCESS) return null;
    return @intCast(rc);
}

/// The physical order of the (faulted-in) pages of [ptr, ptr + len), or null when frame
/// numbers aren't visible to this process.
pub fn measure(ptr: [*]const u8, len: usize) ?Order {
    const fd = openPagemap() orelse return null;
    defer _ = linux.close(fd);
    var frames: [chunk_bytes / 4096]u64 = undefined;
    const per_chunk = @min(frames.len, chunk_bytes / pageSize());
    var total: Order = .{};
    var last: ?u64 = null;
    var at: usize = 0;
    while (at < len) {
        const n = @min(per_chunk, (len - at) / pageSize());
        if (n == 0) break;
        if (!readFrames(fd, ptr + at, frames[0..n])) return null;
        if (last) |a| total.add(countOrder(&[_]u64{ a, frames[0] }));
        total.add(countOrder(frames[0..n]));
        last = frames[n - 1];
        at += n * pageSize();
    }
    return total;
}

/// Puts pages in ascending physical order where the kernel lets it, chunk by chunk (2 MiB) of
/// the faulted-in range [ptr, ptr + len):
/// - a chunk that came out mostly descending is freed and faulted in again: the pages go back
///   to the allocator in ascending virtual order and, LIFO, come back reversed (ascending);
/// - a chunk that came out scattered (neither: pages the per-CPU lists held, from whatever was
///   freed last) is moved aside, still allocated, and a fresh chunk takes its place, so the
///   allocator hands out its next pages instead of the same ones; the ones moved aside are
///   freed at the end. At most half the buffer (and 512 MiB) is held aside.
/// The contents of a chunk faulted in again are zero.
fn orderPages(ptr: [*]u8, len: usize) Outcome {
    const fd = openPagemap() orelse return .{};
    defer _ = linux.close(fd);
    // Freed pages go to the per-CPU list of the CPU that frees them: stay on one CPU, so that
    // a chunk freed and faulted in again gets its own pages back.
    const pin = Pin.to(null);
    defer pin.release();
    return orderWith(fd, ptr, len);
}

/// Faults in [ptr, ptr + len) and puts its pages in order (orderPages), on the CPU whose
/// per-CPU free lists hold the fewest pages: a process that just exited leaves hundreds of MiB
/// there (measured: 827 MiB on one CPU, 16 MiB on the other, after a DeepSpeed run), handed out
/// last-freed-first, in whatever order that process had them; another CPU's allocations come
/// from split free blocks, ascending. Without frame numbers (no CAP_SYS_ADMIN) it only faults in.
pub fn populateOrdered(ptr: [*]u8, len: usize) Outcome {
    const fd = openPagemap() orelse {
        faultIn(ptr, len);
        return .{};
    };
    defer _ = linux.close(fd);
    const pin = Pin.to(quietestCpu());
    defer pin.release();
    faultIn(ptr, len);
    return orderWith(fd, ptr, len);
}

fn orderWith(fd: i32, ptr: [*]u8, len: usize) Outcome {
    var out: Outcome = .{};
    const aside = Aside.init(@min(len / 2, max_aside_bytes));
    defer aside.deinit();
    var used_aside: usize = 0;
    var frames: [chunk_bytes / 4096]u64 = undefined;
    const per_chunk = @min(frames.len, chunk_bytes / pageSize());
    var at: usize = 0;
    while (at < len) {
        const n = @min(per_chunk, (len - at) / pageSize());
        if (n == 0) break;
        const bytes = n * pageSize();
        const chunk = frames[0..n];
        if (!readFrames(fd, ptr + at, chunk)) return .{};
        var order = countOrder(chunk);
        var flips: u32 = 0;
        var asides: u32 = 0;
        while (!ordered(order)) {
            if (order.descending > order.ascending) {
                // Freed in ascending virtual order, the pages come back LIFO: reversed again.
                if (flips == max_flips) break;
                flips += 1;
                if (linux.E.init(linux.madvise(ptr + at, bytes, linux.MADV.DONTNEED)) != .SUCCESS) break;
            } else {
                // Scattered: hold these pages aside so the allocator hands out others.
                if (asides == max_asides or used_aside + chunk_bytes > aside.len) break;
                asides += 1;
                if (!aside.take(ptr + at, bytes, used_aside)) break;
                used_aside += chunk_bytes;
            }
            faultIn(ptr + at, bytes);
            out.refaulted_chunks += 1;
            if (!readFrames(fd, ptr + at, chunk)) return .{};
            order = countOrder(chunk);
        }
        out.order.add(order);
        at += bytes;
    }
    out.checked = true;
    return out;
}

/// The calling thread held on one CPU, and its own CPU mask to restore.
const Pin = struct {
    saved: linux.cpu_set_t = undefined,
    pinned: bool = false,

    /// Holds the thread on `want` when its mask allows that CPU, else on the CPU it runs on.
    fn to(want: ?usize) Pin {
        var p: Pin = .{};
        if (@as(isize, @bitCast(linux.sched_getaffinity(0, @sizeOf(linux.cpu_set_t), &p.saved))) < 0) return p;
        var cpu: usize = 0;
        if (want != null and want.? < @bitSizeOf(linux.cpu_set_t) and isSet(&p.saved, want.?)) {
            cpu = want.?;
        } else if (linux.E.init(linux.getcpu(&cpu, null)) != .SUCCESS) return p;
        if (cpu >= @bitSizeOf(linux.cpu_set_t)) return p;
        var one = std.mem.zeroes(linux.cpu_set_t);
        one[cpu / @bitSizeOf(usize)] |= @as(usize, 1) << @intCast(cpu % @bitSizeOf(usize));
        linux.sched_setaffinity(0, &one) catch return p;
        p.pinned = true;
        return p;
    }

    fn release(self: *const Pin) void {
        if (self.pinned) linux.sched_setaffinity(0, &self.saved) catch {};
    }
};

fn isSet(set: *const linux.cpu_set_t, cpu: usize) bool {
    return set[cpu / @bitSizeOf(usize)] & (@as(usize, 1) << @intCast(cpu % @bitSizeOf(usize))) != 0;
}

/// The CPU this thread may run on whose per-CPU page lists hold the fewest pages (the sum of
/// its `count:` lines in /proc/zoneinfo), or null when that can't be read.
fn quietestCpu() ?usize {
    var allowed: linux.cpu_set_t = undefined;
    if (@as(isize, @bitCast(linux.sched_getaffinity(0, @sizeOf(linux.cpu_set_t), &allowed))) < 0) return null;
    const text = readProcFile("/proc/zoneinfo") orelse return null;
    defer std.heap.c_allocator.free(text);
    return pickQuietest(text, &allowed);
}

fn pickQuietest(zoneinfo: []const u8, allowed: *const linux.cpu_set_t) ?usize {
    const n_cpus = @bitSizeOf(linux.cpu_set_t);
    var counts = [_]u64{0} ** n_cpus;
    var seen = [_]bool{false} ** n_cpus;
    var cpu: ?usize = null;
    var lines = std.mem.splitScalar(u8, zoneinfo, '\n');
    while (lines.next()) |raw| {
        const line = std.mem.trim(u8, raw, " \t");
        if (std.mem.startsWith(u8, line, "cpu:")) {
            const k = std.fmt.parseInt(usize, std.mem.trim(u8, line[4..], " \t"), 10) catch null;
            cpu = if (k != null and k.? < n_cpus) k else null;
        } else if (std.mem.startsWith(u8, line, "count:")) {
            const k = cpu orelse continue;
            const c = std.fmt.parseInt(u64, std.mem.trim(u8, line[6..], " \t"), 10) catch continue;
            counts[k] += c;
            seen[k] = true;
            cpu = null;
        }
    }
    var best: ?usize = null;
    for (0..n_cpus) |k| {
        if (!seen[k] or !isSet(allowed, k)) continue;
        if (best == null or counts[k] < counts[best.?]) best = k;
    }
    return best;
}

/// The whole of a /proc file (their size reads as 0), or null.
fn readProcFile(path: [*:0]const u8) ?[]u8 {
    const rc = linux.open(path, .{ .CLOEXEC = true }, 0);
    if (linux.E.init(rc) != .SUCCESS) return null;
    const fd: i32 = @intCast(rc);
    defer _ = linux.close(fd);
    const a = std.heap.c_allocator;
    var buf = a.alloc(u8, 64 << 10) catch return null;
    var used: usize = 0;
    while (true) {
        if (used == buf.len) {
            if (buf.len >= 16 << 20) break;
            buf = a.realloc(buf, buf.len * 2) catch {
                a.free(buf);
                return null;
            };
        }
        const n = linux.read(fd, buf[used..].ptr, buf.len - used);
        if (linux.E.init(n) != .SUCCESS) {
            a.free(buf);
            return null;
        }
        if (n == 0) break;
        used += n;
    }
    return a.realloc(buf, @max(used, 1)) catch buf[0..used];
}

const max_aside_bytes: usize = 512 << 20;

/// Three in four neighbouring pages follow each other: an IO over them takes few segments.
fn ordered(o: Order) bool {
    return o.ascending * 4 >= o.pairs * 3;
}

/// A reserved address range (no memory) that chunks are moved into, pages and all, and freed
/// with it.
const Aside = struct {
    base: usize,
    len: usize,

    fn init(want: usize) Aside {
        if (want < chunk_bytes) return .{ .base = 0, .len = 0 };
        const rc = linux.mmap(null, want, linux.PROT.NONE, .{ .TYPE = .PRIVATE, .ANONYMOUS = true, .NORESERVE = true }, -1, 0);
        if (linux.E.init(rc) != .SUCCESS) return .{ .base = 0, .len = 0 };
        return .{ .base = rc, .len = want };
    }

    /// Moves [p, p + bytes) to the aside slot at `offset` and maps fresh memory at p.
    fn take(self: Aside, p: [*]u8, bytes: usize, offset: usize) bool {
        const to: [*]u8 = @ptrFromInt(self.base + offset);
        const moved = linux.mremap(p, bytes, bytes, .{ .MAYMOVE = true, .FIXED = true }, to);
        if (linux.E.init(moved) != .SUCCESS) return false;
        const rc = linux.mmap(p, bytes, linux.PROT.READ | linux.PROT.WRITE, .{ .TYPE = .PRIVATE, .ANONYMOUS = true, .FIXED = true }, -1, 0);
        // The range is ours either way: if mmap failed, move the pages back.
        if (linux.E.init(rc) != .SUCCESS) {
            _ = linux.mremap(to, bytes, bytes, .{ .MAYMOVE = true, .FIXED = true }, p);
            return false;
        }
        return true;
    }

    fn deinit(self: Aside) void {
        if (self.len > 0) _ = linux.munmap(@ptrFromInt(self.base), self.len);
    }
};

fn mapForTest(len: usize) ![*]u8 {
    const rc = linux.mmap(null, len, linux.PROT.READ | linux.PROT.WRITE, .{ .TYPE = .PRIVATE, .ANONYMOUS = true }, -1, 0);
    if (linux.E.init(rc) != .SUCCESS) return error.OutOfMemory;
    return @ptrFromInt(rc);
}

test "countOrder counts ascending and descending neighbours" {
    const o = countOrder(&[_]u64{ 10, 11, 12, 40, 39, 38, 7 });
    try std.testing.expectEqual(@as(u64, 6), o.pairs);
    try std.testing.expectEqual(@as(u64, 2), o.ascending);
    try std.testing.expectEqual(@as(u64, 2), o.descending);
}

test "orderPages turns chunks faulted in descending order into ascending ones" {
    // Large enough that most of it comes from split free blocks (ascending) rather than from
    // the per-CPU lists (whatever was freed last).
    const len: usize = 256 << 20;
    const chunks = len / chunk_bytes;
    const ptr = try mapForTest(len);
    defer _ = linux.munmap(ptr, len);
    faultIn(ptr, len);
    if (measure(ptr, len) == null) return error.SkipZigTest; // frame numbers need CAP_SYS_ADMIN
    // Descending chunks, as a process often finds them after another one exited: some come out
    // so; an ascending chunk freed and faulted in again comes back reversed (LIFO free lists).
    const pin = Pin.to(null);
    defer pin.release();
    var made = [_]bool{false} ** chunks;
    var made_count: usize = 0;
    for (0..chunks) |c| {
        const at = c * chunk_bytes;
        const o = measure(ptr + at, chunk_bytes).?;
        if (o.descending > o.pairs / 2) {
            made[c] = true; // came out reversed by itself
            made_count += 1;
            continue;
        }
        if (o.ascending <= o.pairs / 2) continue;
        _ = linux.madvise(ptr + at, chunk_bytes, linux.MADV.DONTNEED);
        faultIn(ptr + at, chunk_bytes);
        const r = measure(ptr + at, chunk_bytes).?;
        made[c] = r.descending > r.pairs / 2;
        if (made[c]) made_count += 1;
    }
    // How the allocator hands out pages is the kernel's: none reversed, nothing to test.
    if (made_count == 0) return error.SkipZigTest;

    const out = orderPages(ptr, len);
    try std.testing.expect(out.checked);
    try std.testing.expect(out.refaulted_chunks >= made_count);
    const after = measure(ptr, len).?;
    try std.testing.expectEqual(len / pageSize() - 1, after.pairs);
    try std.testing.expectEqual(len / pageSize() - chunks, out.order.pairs);
    try std.testing.expect(after.descending <= after.ascending);
    for (0..chunks) |c| {
        const o = measure(ptr + c * chunk_bytes, chunk_bytes).?;
        try std.testing.expect(o.descending <= o.ascending);
    }
    // The buffer is still whole and writable.
    @memset(ptr[0..len], 0x5a);
    try std.testing.expectEqual(@as(u8, 0x5a), ptr[len - 1]);
}

test "measure reads nothing of a range that isn't faulted in" {
    const len: usize = 4 << 20;
    const ptr = try mapForTest(len);
    defer _ = linux.munmap(ptr, len);
    try std.testing.expect(measure(ptr, len) == null);
    const out = orderPages(ptr, len);
    try std.testing.expect(!out.checked);
    try std.testing.expectEqual(@as(u64, 0), out.refaulted_chunks);
}

test "Aside.take moves a chunk's pages away, contents and all, and maps fresh zero pages" {
    const len: usize = 3 * chunk_bytes;
    const ptr = try mapForTest(len);
    defer _ = linux.munmap(ptr, len);
    @memset(ptr[0..len], 0x11);
    const aside = Aside.init(2 * chunk_bytes);
    defer aside.deinit();
    try std.testing.expectEqual(2 * chunk_bytes, aside.len);
    try std.testing.expect(aside.take(ptr + chunk_bytes, chunk_bytes, chunk_bytes));
    const moved: [*]const u8 = @ptrFromInt(aside.base + chunk_bytes);
    try std.testing.expectEqual(@as(u8, 0x11), moved[0]);
    try std.testing.expectEqual(@as(u8, 0x11), moved[chunk_bytes - 1]);
    try std.testing.expectEqual(@as(u8, 0), ptr[chunk_bytes]);
    try std.testing.expectEqual(@as(u8, 0), ptr[2 * chunk_bytes - 1]);
    try std.testing.expectEqual(@as(u8, 0x11), ptr[chunk_bytes - 1]);
    try std.testing.expectEqual(@as(u8, 0x11), ptr[2 * chunk_bytes]);
    @memset(ptr[chunk_bytes .. 2 * chunk_bytes], 0x22);
    try std.testing.expectEqual(@as(u8, 0x11), moved[0]);
}

test "Aside of less than a chunk reserves nothing" {
    const aside = Aside.init(chunk_bytes - 1);
    defer aside.deinit();
    try std.testing.expectEqual(@as(usize, 0), aside.len);
}

test "Pin holds the thread on its CPU and gives its mask back" {
    var before: linux.cpu_set_t = undefined;
    _ = linux.sched_getaffinity(0, @sizeOf(linux.cpu_set_t), &before);
    {
        const pin = Pin.to(null);
        defer pin.release();
        try std.testing.expect(pin.pinned);
        var now: linux.cpu_set_t = undefined;
        _ = linux.sched_getaffinity(0, @sizeOf(linux.cpu_set_t), &now);
        try std.testing.expectEqual(@as(linux.cpu_count_t, 1), linux.CPU_COUNT(now));
    }
    var after: linux.cpu_set_t = undefined;
    _ = linux.sched_getaffinity(0, @sizeOf(linux.cpu_set_t), &after);
    try std.testing.expectEqualSlices(usize, &before, &after);
}

test "pickQuietest sums each CPU's counts over the zones and keeps to the allowed CPUs" {
    const zoneinfo =
        \\Node 0, zone    DMA32
        \\  pagesets
        \\    cpu: 0
        \\              count:    10
        \\    cpu: 1
        \\              count:    30
        \\    cpu: 2
        \\              count:    5
        \\Node 0, zone   Normal
        \\  pagesets
        \\    cpu: 0
        \\              count:    211748
        \\              high:     337141
        \\    cpu: 1
        \\              count:    4216
        \\    cpu: 2
        \\              count:    9000
    ;
    var all = std.mem.zeroes(linux.cpu_set_t);
    all[0] = 0b111;
    try std.testing.expectEqual(@as(?usize, 1), pickQuietest(zoneinfo, &all));
    var not1 = std.mem.zeroes(linux.cpu_set_t);
    not1[0] = 0b101;
    try std.testing.expectEqual(@as(?usize, 2), pickQuietest(zoneinfo, &not1));
    var none = std.mem.zeroes(linux.cpu_set_t);
    none[0] = 0b1000; // a CPU zoneinfo doesn't list (offline) is never picked
    try std.testing.expectEqual(@as(?usize, null), pickQuietest(zoneinfo, &none));
}

test "quietestCpu reads this machine's zoneinfo and picks a CPU this thread may use" {
    const cpu = quietestCpu() orelse return error.SkipZigTest; // no /proc/zoneinfo here
    var allowed: linux.cpu_set_t = undefined;
    _ = linux.sched_getaffinity(0, @sizeOf(linux.cpu_set_t), &allowed);
    try std.testing.expect(isSet(&allowed, cpu));
    const pin = Pin.to(cpu);
    defer pin.release();
    var now: usize = 0;
    _ = linux.getcpu(&now, null);
    try std.testing.expectEqual(cpu, now);
}
