export {
  type FlagEvaluationRecorder,
  SAMPLE_RATIO_ATTRIBUTE,
  TrackpipeHook,
  type TrackpipeHookStats,
} from './hook.js';
export { type ResolvedHookOptions, type TargetingKeyMode, type TrackpipeHookOptions } from './options.js';
