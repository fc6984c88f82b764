#!/usr/bin/env python3
"""DeepSpeed's own ZeRO-3 optimizer swapper on CPU tensors, for the same plan aiobench zero
replays: the same sub-groups, parameter partitions, aio settings and folder. It drives the
swapper as deepspeed/runtime/zero/stage3.py does for optimizer offload to NVMe (gradients swapped
out in backward, then per sub-group swap_in_optimizer_state / update / swap_out_optimizer_state),
counts the bytes every aio handle is given, times each step, and lists the swap files.

Usage (scripts/bench_zero_vs_deepspeed.sh runs it):
  bench_zero_vs_deepspeed.py --plan plan.json --config ds_config.json --steps 3 --out ds.json
      [--pinning stock|emulated]

--pinning stock runs DeepSpeed unchanged; without a GPU its CPU accelerator reports no tensor as
pinned, and the swapper asserts that its buffers are. --pinning emulated gives `pin_memory` what
it gives on a GPU machine: page-locked memory, here from the page-locked allocator of the
swapper's first aio handle (`new_cpu_locked_tensor`, mlock'ed), and `is_pinned` says so. That
handle's C++ op then moves those buffers without a copy; a handle that doesn't manage a buffer
(the pipelined swapper's read handle) copies it through its own page-locked bounce buffer, as it
does for any CPU tensor. The IO path is DeepSpeed's, unchanged. Needs `ulimit -l` unlimited, or
the wrapper's no-op mlock (DeepSpeed's mlock failures would otherwise turn into IO on a null
buffer, which it doesn't check).
"""
import argparse
import json
import os
import resource
import sys
import time
import traceback

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("RANK", "0")
os.environ.setdefault("LOCAL_RANK", "0")
os.environ.setdefault("WORLD_SIZE", "1")
os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", "29561")

import torch  # noqa: E402
import deepspeed  # noqa: E402
from deepspeed.accelerator import get_accelerator  # noqa: E402
from deepspeed.ops.op_builder import AsyncIOBuilder  # noqa: E402
from deepspeed.runtime.swap_tensor import partitioned_optimizer_swapper, pipelined_optimizer_swapper  # noqa: E402
from deepspeed.runtime.swap_tensor.aio_config import get_aio_config  # noqa: E402
from deepspeed.runtime.swap_tensor.partitioned_optimizer_swapper import (  # noqa: E402
    PartitionedOptimizerSwapper, )
from deepspeed.runtime.swap_tensor.pipelined_optimizer_swapper import (  # noqa: E402
    PipelinedOptimizerSwapper, )
from deepspeed.runtime.zero.offload_config import DeepSpeedZeroOffloadOptimizerConfig  # noqa: E402


class CountingHandle:
    """Passes every call to DeepSpeed's aio handle; adds up the bytes of each request."""

    def __init__(self, handle, name):
        self.handle = handle
        self.name = name
        self.read_bytes = 0
        self.write_bytes = 0
        self.requests = 0

    def async_pread(self, buffer, path, *rest):
        self.read_bytes += buffer.numel() * buffer.element_size()
        self.requests += 1
        return self.handle.async_pread(buffer, path, *rest)

    def async_pwrite(self, buffer, path, *rest):
        self.write_bytes += buffer.numel() * buffer.element_size()
        self.requests += 1
        return self.handle.async_pwrite(buffer, path, *rest)

    def wait(self):
        return self.handle.wait()

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def take(self):
        counts = (self.read_bytes, self.write_bytes, self.requests)
        self.read_bytes = self.write_bytes = self.requests = 0
        return counts


def emulate_pinning(aio_config):
    """`pin_memory` returns page-locked memory from the first aio handle the swapper creates (made
    here, before the swapper's buffers); `is_pinned` is true for such memory."""
    real = AsyncIOBuilder().load(verbose=False)
    first = real.aio_handle(block_size=aio_config["block_size"],
                            queue_depth=aio_config["queue_depth"],
                            single_submit=aio_config["single_submit"],
                            overlap_events=aio_config["overlap_events"],
                            intra_op_parallelism=aio_config["intra_op_parallelism"])
    handed = []

    class Op:

        def aio_handle(self, **kwargs):
            handle = first if not handed else real.aio_handle(**kwargs)
            handed.append(handle)
            return handle

    class Builder:

        def load(self, verbose=True):
            return Op()

    partitioned_optimizer_swapper.AsyncIOBuilder = Builder
    pipelined_optimizer_swapper.AsyncIOBuilder = Builder
    accelerator = get_accelerator()
    pinned = set()

    def pin_memory(tensor, align_bytes=1):
        locked = first.new_cpu_locked_tensor(tensor.numel(), tensor).view(tensor.shape)
        locked.copy_(tensor)
        pinned.add(locked.untyped_storage().data_ptr())
        return locked

    def is_pinned(tensor):
        return tensor.numel() > 0 and tensor.untyped_storage().data_ptr() in pinned

    accelerator.pin_memory = pin_memory
    accelerator.is_pinned = is_pinned


class Optimizer:
    """What the swapper reads of an optimizer: its `state` dict (DeepSpeedCPUAdam's layout)."""

    def __init__(self):
        self.state = {}


def where(exc):
    """The innermost DeepSpeed frame of an exception: file:line in function, and its code."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "deepspeed" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    short = frame.filename.split("site-packages/")[-1]
    return f"{short}:{frame.lineno} in {frame.name}: {frame.line}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pinning", choices=["stock", "emulated"], default="emulated")
    args = ap.parse_args()
    plan = json.load(open(args.plan))
    config = json.load(open(args.config))
    memlock = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    out = {
        "deepspeed": deepspeed.__version__,
        "torch": torch.__version__,
        "pinning": args.pinning,
        "memlock": "unlimited" if memlock == resource.RLIM_INFINITY else memlock,
        "mlock_shim": os.environ.get("LD_PRELOAD", "") != "",
    }
    try:
        run(plan, config, args, out)
        out["completed"] = True
    except Exception as exc:  # report where DeepSpeed stopped, in one line
        out["completed"] = False
        out["stopped_at"] = where(exc)
        out["error"] = f"{type(exc).__name__}: {exc}".strip()
    json.dump(out, open(args.out, "w"), indent=2)
    print(json.dumps({k: v for k, v in out.items() if k != "steps"}, indent=None))
    return 0


def run(plan, config, args, out):
    deepspeed.init_distributed(dist_backend="gloo", auto_mpi_discovery=False, verbose=False)
    zero = config["zero_optimization"]
    opt = zero["offload_optimizer"]
    swap_config = DeepSpeedZeroOffloadOptimizerConfig(**opt)
    aio_config = get_aio_config(config)
    if args.pinning == "emulated":
        emulate_pinning(aio_config)
    groups = [g for g in plan["sub_groups"]]
    fp32 = []
    for g in groups:
        t = torch.empty(0, dtype=torch.float32)
        t.ds_id = g["id"]
        fp32.append(t)
    swappable = [i for i, g in enumerate(groups) if g["swappable"]]
    # stage3.py _create_next_swappable_fp32_groups: the next swappable sub-group's fp32 tensor.
    next_of = {i: (fp32[swappable[k + 1]] if k + 1 < len(swappable) else None) for k, i in enumerate(swappable)}
    optimizer = Optimizer()
    swapper_type = PipelinedOptimizerSwapper if swap_config.pipeline else PartitionedOptimizerSwapper
    base = os.path.join(opt["nvme_path"], "zero_stage_3")
    os.makedirs(base, exist_ok=True)
    swapper = swapper_type(swap_config=swap_config,
                           aio_config=aio_config,
                           base_folder=base,
                           optimizer=optimizer,
                           largest_numel=max(g["numel"] for g in groups),
                           device="cpu",
                           dtype=torch.float32,
                           timers=None)
    handles = wrap_handles(swapper)
    out["swapper"] = type(swapper).__name__
    # stage3.py _create_fp32_partitions: the fp32 partitions are written once (not a step).
    params = [fp32[i] for i in swappable]
    sources = [torch.randn(groups[i]["numel"]) for i in swappable]
    swapper.initialize_parameters(parameters=params, src_tensors=sources)
    del sources
    take(handles)
    # Gradient partitions in the order backward produces them: (sub-group, offset, numel).
    position = {}
    for gi, g in enumerate(groups):
        offset = 0
        for t in g["tensors"]:
            position[t["ds_id"]] = (gi, offset, t["partition_numel"])
            offset += t["partition_numel"]
    grads = {ds_id: torch.randn(numel) for ds_id, (_, _, numel) in position.items()}
    steps = []
    for step in range(1 + args.steps):  # the first is DeepSpeed's first step: no Adam state yet
        t0 = time.perf_counter()
        for ds_id in plan["backward_order"]:
            gi, offset, _ = position[ds_id]
            if groups[gi]["swappable"]:
                swapper.swap_out_gradients(parameter=fp32[gi],
                                           gradient_offsets=[offset],
                                           gradient_tensors=[grads[ds_id]])
        t1 = time.perf_counter()
        for gi in swappable:
            swapper.swap_in_optimizer_state(parameter=fp32[gi], async_parameter=next_of[gi])
            param = fp32[gi]
            if param not in optimizer.state:
                # DeepSpeedCPUAdam creates its state at the first step: step count, two moments.
                optimizer.state[param] = {
                    "step": 0,
                    "exp_avg": torch.zeros(groups[gi]["numel"]),
                    "exp_avg_sq": torch.zeros(groups[gi]["numel"]),
                }
            swapper.swap_out_optimizer_state(parameter=param, async_swap=next_of[gi] is not None)
            param.grad = None
        t2 = time.perf_counter()
        read, write, requests = take(handles)
        fds = len(os.listdir("/proc/self/fd"))
        steps.append({
            "open_fds": fds,
            "step": step,
            "first": step == 0,
            "backward_s": t1 - t0,
            "optimizer_s": t2 - t1,
            "step_s": t2 - t0,
            "read_bytes": read,
            "write_bytes": write,
            "requests": requests,
        })
        print(f"deepspeed step {step}{' (first)' if step == 0 else ''}: {t2 - t0:.3f} s, "
              f"{read} B read, {write} B written", file=sys.stderr)
    out["steps"] = steps
    folder = swapper.swap_folder
    out["files"] = sorted([name, os.path.getsize(os.path.join(folder, name))] for name in os.listdir(folder))


def wrap_handles(swapper):
    handles = []
    for attr in ["aio_handle", "read_aio_handle", "write_aio_handle"]:
        if hasattr(swapper, attr):
            proxy = CountingHandle(getattr(swapper, attr), attr)
            setattr(swapper, attr, proxy)
            handles.append(proxy)
    inner = swapper.gradient_swapper.aio_handle
    swapper.gradient_swapper.aio_handle = next(h for h in handles if h.handle is inner)
    return handles


def take(handles):
    read = write = requests = 0
    for h in handles:
        r, w, n = h.take()
        read, write, requests = read + r, write + w, requests + n
    return read, write, requests


if __name__ == "__main__":
    sys.exit(main())
