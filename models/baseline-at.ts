import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'baseline-at',
  'The compact baseline CNN adversarially trained (FGSM from a random start, Wong et al. 2020; the manifest says how): the robust reference of the zoo',
  { training: { trainer: 'adversarial', of: 'baseline', method: 'fast' }, trainOn: 'mnist' },
);
