// Ops whose outputs are integers, booleans, shapes or indices: no gradient flows.
import { registerNoGrad } from './registry.js';

registerNoGrad([
  'Shape', 'Size', 'ArgMax', 'ArgMin', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual',
  'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf', 'ConstantOfShape', 'Range', 'OneHot', 'Constant', 'EyeLike',
  'Floor', 'Ceil', 'Round', 'Sign', 'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike',
  'NonZero', 'Multinomial', 'Bernoulli',
]);
