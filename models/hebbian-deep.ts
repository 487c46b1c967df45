import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'hebbian-deep',
  "The paper's HaH placement (Cekic et al., 2022): two HaH convs at each of 32x32, 16x16 and 8x8 (alphas 0.0045 to 0.0005), then a standard block (normalised conv -> ReLU -> batch norm), for 32x32 colour images",
  { training: { trainer: 'zoo', family: 'hebbian', size: 'deep' }, trainOn: 'cifar10' },
);
