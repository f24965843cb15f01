/**
 * Bosun's stock worker process: the tools of the modules BOSUN_TOOL_MODULES names, with everything
 * else configured from the environment (src/config.ts). A user's own worker is the same few lines
 * with its tools passed in (src/worker/index.ts, `bosun/worker`).
 */
import { runMain } from '../runMain';
import { runWorker } from './createWorker';

runMain('worker', () => runWorker());
