/** The helpdesk's tools; also loadable by Bosun's stock worker: BOSUN_TOOL_MODULES=./examples/helpdesk/tools. */
import { closeTicket } from './closeTicket';
import { findTicket } from './findTicket';

export const tools = [findTicket, closeTicket];
export default tools;
