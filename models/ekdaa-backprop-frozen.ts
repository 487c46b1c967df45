import { ekdaaZooPlugin } from '../src/zoo/ekdaa-plugin.js';

export default ekdaaZooPlugin(
  'ekdaa-backprop-frozen',
  "control (issue 33): the ekdaa-backprop net with its convs frozen at ekdaa-backprop's seeded random initialisation and only the fc head trained by backprop",
  'none: tanh is differentiable, attacks use the exact gradient',
  { rule: 'backprop', activation: 'tanh', frozenConvsOf: 'ekdaa-backprop' },
);
