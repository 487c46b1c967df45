import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'baseline-at',
  "The compact baseline CNN adversarially trained, the robust reference of the zoo; the shipped weights' manifest says how",
  { training: { trainer: 'adversarial', of: 'baseline', method: 'fast' }, trainOn: 'mnist' },
);
