import { ekdaaZooPlugin } from '../src/zoo/ekdaa-plugin.js';

export default ekdaaZooPlugin(
  'ekdaa-frozen',
  "control (issue 33): the ekdaa net with its convs frozen at ekdaa's seeded random initialisation and only the fc head trained by EKDAA; ekdaa's accuracy over this is what EKDAA's conv training contributes",
  'none: tanh is differentiable, attacks use the exact gradient',
  { rule: 'ekdaa', activation: 'tanh', frozenConvsOf: 'ekdaa' },
);
