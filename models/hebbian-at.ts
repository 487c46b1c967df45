import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'hebbian-at',
  'The compact HaH CNN of Cekic et al. (2022) adversarially trained like baseline-at: does HaH add robustness on top of adversarial training?',
  { training: { trainer: 'adversarial', of: 'hebbian', method: 'fast' }, trainOn: 'cifar10' },
);
