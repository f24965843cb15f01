export { agentRun, approvalDecidedSignal, interruptSignal, progressQuery } from './agentRun';
export { abortRolloutSignal, agentRollout, pauseRolloutSignal, resumeRolloutSignal, rolloutStatusQuery, type RolloutControl } from './rollout';
export { alertEvaluation, type AlertEvaluationResult } from './alertEvaluation';
export { purgeMemories } from './memoryPurge';
export { shadowReplay, shadowWakeSignal } from './shadowReplay';
export { continuousShadow, mirrorRunSignal } from './continuousShadow';
