const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    // ReleaseSafe unless asked otherwise: every assert and bounds check runs, for users and the
    // test suite alike; measured against ReleaseFast it costs under 1% of the CPU per IO (see
    // docs/performance.md, "Safety checks' cost"). AIOBENCH_OPTIMIZE (or -Doptimize) picks another.
    const env_optimize = if (b.graph.env_map.get("AIOBENCH_OPTIMIZE")) |name| std.meta.stringToEnum(std.builtin.OptimizeMode, name) else null;
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "Optimization mode (default ReleaseSafe, or $AIOBENCH_OPTIMIZE)") orelse env_optimize orelse .ReleaseSafe;
    // Distribution builds strip debug info (about 3x smaller when embedded in the bundle).
    const strip = b.option(bool, "strip", "Strip debug info and symbols (default: no)");

    const root_module = b.createModule(.{
        .root_source_file = b.path("src/root.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .strip = strip,
    });
    const lib = b.addLibrary(.{
        .linkage = .dynamic,
        .name = "aiobench",
        .root_module = root_module,
    });
    b.installArtifact(lib);

    // Unit tests run with safety checks on (every assert executes), whatever the library's mode.
    const test_optimize = b.option(std.builtin.OptimizeMode, "test-optimize", "Optimization mode of the unit tests (default Debug)") orelse .Debug;
    const test_module = b.createModule(.{
        .root_source_file = b.path("src/root.zig"),
        .target = target,
        .optimize = test_optimize,
        .link_libc = true,
    });
    const tests = b.addTest(.{ .root_module = test_module });
    const run_tests = b.addRunArtifact(tests);
    const test_step = b.step("test", "Run the native library's unit tests");
    test_step.dependOn(&run_tests.step);
}
