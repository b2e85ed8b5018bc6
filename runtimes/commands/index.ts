// The command table. Add a command by adding its module here.
import type { Command } from '../io.ts';

export const commands: Command[] = [];
