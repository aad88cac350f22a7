/** EventBridge event patterns: compile, validate and match. */
export { compilePattern, PatternError, MAX_PATTERN_LENGTH, type SubRule, type PatternField } from './compile-pattern.ts';
export { RuleMachine } from './rule-machine.ts';
export { matchesReference } from './match-reference.ts';
