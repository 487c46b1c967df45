import { SIGN_SURROGATE } from '../src/layers/sign-ste.js';
import { ekdaaZooPlugin } from '../src/zoo/ekdaa-plugin.js';

export default ekdaaZooPlugin(
  'ekdaa-sign-frozen',
  "control (issue 33): the ekdaa-sign net with its convs frozen at ekdaa-sign's seeded random initialisation and only the fc head trained by EKDAA",
  SIGN_SURROGATE,
  { rule: 'ekdaa', activation: 'sign', frozenConvsOf: 'ekdaa-sign' },
);
