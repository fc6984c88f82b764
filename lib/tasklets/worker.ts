/** Entry point of a tasklet Web Worker. */
import { startTasklet } from "./tasklet.ts";

startTasklet();
