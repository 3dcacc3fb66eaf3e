export {
  type FlagEvaluationRecorder,
  SAMPLE_RATIO_ATTRIBUTE,
  TrackpipeHook,
  type TrackpipeHookStats,
} from './hook.js';
export {
  type HookMode,
  type ResolvedHookOptions,
  type SampledSummariesMode,
  type TargetingKeyMode,
  type TrackpipeHookOptions,
} from './options.js';
