// The command table. Add a command by adding its module here.
import type { Command } from '../io.ts';
import { keysCommands } from './keys.ts';
import { configCommands } from './config.ts';
import { runCommands } from './run.ts';
import { demoCommands } from './demo.ts';
import { shareSinkCommands } from './share-sink.ts';
import { verifierCommands } from './verifier.ts';
import { replayCommands } from './replay.ts';
import { workerCommands } from './worker.ts';

export const commands: Command[] = [...keysCommands, ...configCommands, ...runCommands, ...demoCommands, ...shareSinkCommands, ...verifierCommands, ...replayCommands, ...workerCommands];
