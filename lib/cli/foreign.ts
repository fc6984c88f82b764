/**
 * Names users type from other tools: fio's habits and ds_io's torch-only options. Each gets one
 * line that points at aiobench's option (or says why there is none), not "unknown option".
 *
 * @module
 */

const torch = "aiobench has no torch engine (ds_io's torch_io/torch_fastio measure " +
  "torch.save/torch.load); drop it, and use --engine aio_handle or aio_basic";

/** Option name (snake_case, no dashes) → the one line that explains it. */
export const foreign_options: Readonly<Record<string, string>> = {
  bs: "--bs is fio's name: aiobench's is --block_size (e.g. --block_size 1M)",
  blocksize: "--blocksize is fio's name: aiobench's is --block_size (e.g. --block_size 1M)",
  iodepth: "--iodepth is fio's name: aiobench's is --queue_depth (e.g. --queue_depth 32)",
  numjobs: "--numjobs is fio's name: aiobench's is --threads (workers, each with its own " +
    "handle and file; ds_io says --multi_process)",
  size: "--size is fio's name: aiobench's is --io_size (bytes per worker per loop, e.g. 1G)",
  direct: "--direct is fio's: aiobench always uses O_DIRECT; --buffered turns it off",
  ioengine: "--ioengine is fio's name: aiobench's is --engine (auto|io_uring|libaio|psync)",
  filename: "--filename is fio's: aiobench reads --read_file FILE, or writes --write_file FILE",
  directory: "--directory is fio's name: aiobench's is --folder DIR",
  readwrite: "--readwrite is fio's long name: aiobench takes fio's --rw (read|write|randread|...)",
  fast_io_size: `--fast_io_size sizes ds_io's torch_fastio buffer: ${torch}`,
  torch_legacy_save: `--torch_legacy_save is for ds_io's torch_io engine: ${torch}`,
};

/** The explanation for a foreign option name (`--direct=1` → "direct"), if it is one. */
export function foreignOption(name: string): string | undefined {
  const bare = name.replace(/^no_/, "");
  return Object.hasOwn(foreign_options, bare) ? foreign_options[bare] : undefined;
}
