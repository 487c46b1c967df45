import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'hebbian-deep-alpha0',
  'Ablation of hebbian-deep: the same network (divisive normalisation, thresholds) trained with every HaH alpha 0, to show what the HaH cost itself does',
  { training: { trainer: 'zoo', family: 'hebbian', size: 'deep', variant: 'alpha0' }, trainOn: 'cifar10' },
);
