/** The demo support agent's tool pack (examples/support-tools), for tests that call its tools directly. */
import { tools } from '../../examples/support-tools';

export const supportTools = tools;
