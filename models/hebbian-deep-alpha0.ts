import { zooModelPlugin } from './zoo.js';

export default zooModelPlugin(
  'hebbian-deep-alpha0',
  'Ablation of hebbian-deep: the same network (divisive normalisation, thresholds) trained with every HaH alpha 0, to show what the HaH cost itself does',
  { trainOn: 'cifar10' },
);
