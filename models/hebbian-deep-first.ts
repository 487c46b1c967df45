import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'hebbian-deep-first',
  'Ablation of hebbian-deep: HaH blocks at the first resolution (32x32) only, standard blocks elsewhere, to show whether the depth of HaH matters',
  { training: { trainer: 'zoo', family: 'hebbian', size: 'deep', variant: 'first' }, trainOn: 'cifar10' },
);
