export { agentRun, approvalDecidedSignal, progressQuery } from './agentRun';
export { abortRolloutSignal, agentRollout, pauseRolloutSignal, resumeRolloutSignal, rolloutStatusQuery, type RolloutControl } from './rollout';
export { purgeMemories } from './memoryPurge';
