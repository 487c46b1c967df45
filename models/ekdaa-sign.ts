import { SIGN_SURROGATE } from './ekdaa-net.js';
import { ekdaaZooPlugin } from './ekdaa-zoo.js';

export default ekdaaZooPlugin(
  'ekdaa-sign',
  'sign-activation CNN trained by EKDAA (Zee et al., 2023); white-box gradients through a straight-through surrogate',
  SIGN_SURROGATE,
  { rule: 'ekdaa', activation: 'sign' },
);
