import { ekdaaZooPlugin } from '../src/zoo/ekdaa-plugin.js';

export default ekdaaZooPlugin(
  'ekdaa-release-bp',
  "the EKDAA CNN trained by the EKDAA release's backprop baseline as its BP_model.py computes it (the paper's BP figures; its conv update correlates the previous batch's input-side error with the output activity, so its convs barely train): reproduced, not recommended; ekdaa-backprop is true backprop",
  'none: tanh is differentiable, attacks use the exact gradient',
  { rule: 'release-bp', activation: 'tanh' },
);
