//! Seeded data pattern for writes and validation: every 8-byte word is a hash of (seed, its
//! file offset), never zero, so a block of zeros, a shifted block or a stale block all fail.
const std = @import("std");
const assert = std.debug.assert;

fn word(seed: u64, word_index: u64) u64 {
    var z = seed +% word_index *% 0x9E3779B97F4A7C15;
    z = (z ^ (z >> 30)) *% 0xBF58476D1CE4E5B9;
    z = (z ^ (z >> 27)) *% 0x94D049BB133111EB;
    z ^= z >> 31;
    return if (z == 0) 0x5A5A5A5A5A5A5A5A else z;
}

pub fn fill(buf: []u8, seed: u64, file_offset: u64) void {
    assert(file_offset % 8 == 0);
    const first = file_offset / 8;
    const whole = buf.len / 8;
    var i: usize = 0;
    while (i < whole) : (i += 1) {
        std.mem.writeInt(u64, buf[i * 8 ..][0..8], word(seed, first + i), .little);
    }
    if (buf.len % 8 != 0) {
        var last: [8]u8 = undefined;
        std.mem.writeInt(u64, &last, word(seed, first + whole), .little);
        @memcpy(buf[whole * 8 ..], last[0 .. buf.len % 8]);
    }
}

/// -1 when buf holds the pattern, else the file offset of the first differing byte.
pub fn check(buf: []const u8, seed: u64, file_offset: u64) i64 {
    assert(file_offset % 8 == 0);
    const first = file_offset / 8;
    var i: usize = 0;
    while (i < buf.len) : (i += 8) {
        var expected: [8]u8 = undefined;
        std.mem.writeInt(u64, &expected, word(seed, first + i / 8), .little);
        const n = @min(8, buf.len - i);
        if (std.mem.indexOfDiff(u8, buf[i..][0..n], expected[0..n])) |d| {
            return @intCast(file_offset + i + d);
        }
    }
    return -1;
}

test "fill then check; a flipped byte is found at its offset" {
    var buf: [4099]u8 = undefined;
    fill(&buf, 7, 8192);
    try std.testing.expectEqual(@as(i64, -1), check(&buf, 7, 8192));
    try std.testing.expect(check(&buf, 8, 8192) >= 0);
    buf[1000] ^= 1;
    try std.testing.expectEqual(@as(i64, 8192 + 1000), check(&buf, 7, 8192));
    var zeros = [_]u8{0} ** 64;
    try std.testing.expectEqual(@as(i64, 0), check(&zeros, 7, 0));
}
