import { ekdaaZooPlugin } from '../src/zoo/ekdaa-plugin.js';

export default ekdaaZooPlugin(
  'ekdaa-backprop',
  "the EKDAA tanh CNN trained by backprop with EKDAA's optimiser and epochs: the twin that isolates the learning rule",
  'none: tanh is differentiable, attacks use the exact gradient',
  { rule: 'backprop', activation: 'tanh' },
);
