import { ekdaaZooPlugin } from '../src/zoo/ekdaa-plugin.js';

export default ekdaaZooPlugin(
  'ekdaa',
  'tanh CNN trained without backprop by error-kernel driven activation alignment (EKDAA; Zee et al., 2023)',
  'none: tanh is differentiable, attacks use the exact gradient',
  { rule: 'ekdaa', activation: 'tanh' },
);
