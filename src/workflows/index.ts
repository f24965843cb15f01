export { agentRun, approvalDecidedSignal, progressQuery } from './agentRun';
