import { SIGN_SURROGATE } from '../src/layers/sign-ste.js';
import { ekdaaZooPlugin } from '../src/zoo/ekdaa-plugin.js';

export default ekdaaZooPlugin(
  'ekdaa-sign',
  'sign-activation CNN trained by EKDAA (Zee et al., 2023); white-box gradients through a straight-through surrogate',
  SIGN_SURROGATE,
  { rule: 'ekdaa', activation: 'sign' },
);
