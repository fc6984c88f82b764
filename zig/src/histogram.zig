//! Log-linear latency histogram: values below 2^sub_bits are exact; above, each power of two
//! is split into 2^sub_bits linear buckets, so a bucket's width is at most 1/128 of its value
//! (relative error of a reported percentile <= 0.4% at the bucket midpoint, < 1% worst case).
const std = @import("std");
const assert = std.debug.assert;

pub const sub_bits: u6 = 7;
pub const sub_count: u64 = 1 << sub_bits;
/// Largest exponent kept; values beyond 2^48 ns (~78 hours) land in the last bucket.
pub const exponent_max: u64 = 47;
pub const bucket_count: usize = @intCast(sub_count + (exponent_max - sub_bits + 1) * sub_count);

pub const Histogram = struct {
    buckets: [bucket_count]u64 = [_]u64{0} ** bucket_count,
    count: u64 = 0,
    sum_ns: u64 = 0,
    min_ns: u64 = std.math.maxInt(u64),
    max_ns: u64 = 0,

    pub fn record(self: *Histogram, value_ns: u64) void {
        self.buckets[index(value_ns)] += 1;
        self.count += 1;
        self.sum_ns +%= value_ns;
        self.min_ns = @min(self.min_ns, value_ns);
        self.max_ns = @max(self.max_ns, value_ns);
    }

    pub fn merge(self: *Histogram, other: *const Histogram) void {
        for (&self.buckets, other.buckets) |*into, from| into.* += from;
        self.count += other.count;
        self.sum_ns +%= other.sum_ns;
        self.min_ns = @min(self.min_ns, other.min_ns);
        self.max_ns = @max(self.max_ns, other.max_ns);
    }

    pub fn reset(self: *Histogram) void {
        self.* = .{};
    }

    /// The value at quantile q (0..1), as the midpoint of the bucket holding it.
    pub fn quantile(self: *const Histogram, q: f64) u64 {
        assert(q >= 0 and q <= 1);
        if (self.count == 0) return 0;
        const rank: u64 = @max(1, @as(u64, @intFromFloat(@ceil(q * @as(f64, @floatFromInt(self.count))))));
        var seen: u64 = 0;
        for (self.buckets, 0..) |n, i| {
            seen += n;
            if (seen >= rank) return @min(@max(midpoint(i), self.min_ns), self.max_ns);
        }
        return self.max_ns;
    }
};

/// The quantile q of the samples recorded in `now` since `before` was copied from it (the
/// midpoint of the bucket holding it; 0 when there are none). Cold path: one pass.
pub fn quantileOfDiff(now: *const Histogram, before: *const Histogram, q: f64) u64 {
    assert(q >= 0 and q <= 1);
    assert(now.count >= before.count);
    const count = now.count - before.count;
    if (count == 0) return 0;
    const rank: u64 = @max(1, @as(u64, @intFromFloat(@ceil(q * @as(f64, @floatFromInt(count))))));
    var seen: u64 = 0;
    for (now.buckets, before.buckets, 0..) |n, b, i| {
        seen += n - b;
        if (seen >= rank) return @min(midpoint(i), now.max_ns);
    }
    return now.max_ns;
}

pub fn index(value: u64) usize {
    if (value < sub_count) return @intCast(value);
    const exponent: u64 = @min(63 - @clz(value), exponent_max);
    if (63 - @clz(value) > exponent_max) return bucket_count - 1;
    const shift: u6 = @intCast(exponent - sub_bits);
    const sub = (value >> shift) - sub_count;
    const i = sub_count + (exponent - sub_bits) * sub_count + sub;
    assert(i < bucket_count);
    return @intCast(i);
}

pub fn lowerBound(i: usize) u64 {
    if (i < sub_count) return i;
    const group = (i - sub_count) / sub_count;
    const sub = (i - sub_count) % sub_count;
    const shift: u6 = @intCast(group);
    return (sub_count + sub) << shift;
}

pub fn width(i: usize) u64 {
    if (i < sub_count) return 1;
    const shift: u6 = @intCast((i - sub_count) / sub_count);
    return @as(u64, 1) << shift;
}

pub fn midpoint(i: usize) u64 {
    return lowerBound(i) + width(i) / 2;
}

test "exact below 128, bounded relative error above" {
    var v: u64 = 0;
    while (v < 128) : (v += 1) try std.testing.expectEqual(v, lowerBound(index(v)));
    var prng = std.Random.DefaultPrng.init(42);
    for (0..100_000) |_| {
        const x = prng.random().intRangeAtMost(u64, 128, 1 << 40);
        const i = index(x);
        try std.testing.expect(lowerBound(i) <= x and x < lowerBound(i) + width(i));
        const err = @as(f64, @floatFromInt(@abs(@as(i64, @intCast(midpoint(i))) - @as(i64, @intCast(x))))) / @as(f64, @floatFromInt(x));
        try std.testing.expect(err <= 0.01);
    }
}

test "quantiles of a known uniform sample" {
    var h = Histogram{};
    var x: u64 = 1;
    while (x <= 100_000) : (x += 1) h.record(x * 10);
    const p50 = @as(f64, @floatFromInt(h.quantile(0.5)));
    const p99 = @as(f64, @floatFromInt(h.quantile(0.99)));
    try std.testing.expect(@abs(p50 - 500_000) / 500_000 < 0.01);
    try std.testing.expect(@abs(p99 - 990_000) / 990_000 < 0.01);
    try std.testing.expectEqual(@as(u64, 10), h.min_ns);
    try std.testing.expectEqual(@as(u64, 1_000_000), h.max_ns);
}

fn exactQuantile(sorted: []const u64, q: f64) u64 {
    const rank: usize = @max(1, @as(usize, @intFromFloat(@ceil(q * @as(f64, @floatFromInt(sorted.len))))));
    return sorted[rank - 1];
}

test "percentiles within 1% of the exact percentiles of skewed samples" {
    var prng = std.Random.DefaultPrng.init(7);
    const samples = try std.testing.allocator.alloc(u64, 50_000);
    defer std.testing.allocator.free(samples);
    var h = Histogram{};
    for (samples) |*x| {
        // Log-normal-ish: 1 µs .. ~10 ms with a long tail, like device latency.
        const e = prng.random().float(f64) * 14.0 + 10.0;
        x.* = @intFromFloat(std.math.pow(f64, 2.0, e) * (1.0 + prng.random().float(f64)));
        h.record(x.*);
    }
    std.mem.sort(u64, samples, {}, std.sort.asc(u64));
    for ([_]f64{ 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0 }) |q| {
        const want = @as(f64, @floatFromInt(exactQuantile(samples, q)));
        const got = @as(f64, @floatFromInt(h.quantile(q)));
        try std.testing.expect(@abs(got - want) / want <= 0.01);
    }
    try std.testing.expectEqual(samples[0], h.min_ns);
    try std.testing.expectEqual(samples[samples.len - 1], h.max_ns);
}

test "quantileOfDiff sees only the samples recorded after the snapshot" {
    var h = Histogram{};
    for (0..1000) |_| h.record(1_000_000); // 1 ms, before the snapshot
    const before = h;
    for (1..1001) |x| h.record(x * 1000); // 1..1000 µs after it
    const p99 = @as(f64, @floatFromInt(quantileOfDiff(&h, &before, 0.99)));
    try std.testing.expect(@abs(p99 - 990_000) / 990_000 <= 0.01);
    const p50 = @as(f64, @floatFromInt(quantileOfDiff(&h, &before, 0.5)));
    try std.testing.expect(@abs(p50 - 500_000) / 500_000 <= 0.01);
    try std.testing.expectEqual(@as(u64, 0), quantileOfDiff(&h, &h, 0.99));
}
