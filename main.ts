/**
 * The aiobench command: argv → subcommand → exit code. All logic lives in lib/.
 *
 * @module
 */
import { NativeLoadError } from "./ffi/native.ts";
import { helpText } from "./lib/cli/help.ts";
import { parseArgs, UsageError } from "./lib/cli/parse.ts";
import { EXIT } from "./lib/common/exit.ts";
import { errLine, writeLines } from "./lib/common/output.ts";
import { runDoctor } from "./lib/doctor/command.ts";
import { mpiWanted } from "./lib/mpi/launch.ts";
import { runCommand } from "./lib/run/command.ts";
import { isUserFacing, VERSION } from "./lib/run/run.ts";

export { EXIT };

const err = errLine;

/** Runs aiobench with `argv`; returns the exit code (never throws for user errors). */
export async function main(argv: string[]): Promise<number> {
  try {
    const parsed = parseArgs(argv);
    if (mpiWanted(parsed.command, parsed.config?.mpi)) {
      const { runUnderMpi } = await import("./lib/mpi/command.ts");
      return await runUnderMpi(parsed);
    }
    switch (parsed.command) {
      case "help":
        writeLines(Deno.stdout, [helpText(parsed.helpTopic)]);
        return EXIT.ok;
      case "version":
        writeLines(Deno.stdout, [`aiobench ${VERSION}`]);
        return EXIT.ok;
      case "doctor":
        return await runDoctor(parsed);
      case "sweep": {
        const { runSweepCommand } = await import("./lib/sweep/command.ts");
        return await runSweepCommand(parsed);
      }
      case "compare": {
        const { runCompareCommand } = await import("./lib/compare/command.ts");
        return await runCompareCommand(parsed);
      }
      case "zero": {
        const { runZeroCommand } = await import("./lib/zero/command.ts");
        return await runZeroCommand(parsed, { version: VERSION });
      }
      default:
        return await runCommand(parsed.config!);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`aiobench: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof NativeLoadError) {
      err(`aiobench: ${e.message}`);
      return EXIT.failed;
    }
    if (isUserFacing(e)) {
      err(`aiobench: ${e.message.split("\n")[0]}`);
      return EXIT.failed;
    }
    err(`aiobench: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return EXIT.failed;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
