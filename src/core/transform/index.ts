/** EventBridge input transformers and InputPath. */
export {
  compileInputTransformer,
  compileInputPath,
  TransformConfigError,
  type InputTransformerSpec,
  type TransformContext,
  type TransformResult,
  type CompiledTransform,
} from './input-transformer.ts';
