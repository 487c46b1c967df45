import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'baseline',
  'Compact CNN (conv -> ReLU -> batch norm blocks, max-pools, linear classifier): the baseline of Cekic et al. (2022)',
  { training: { trainer: 'zoo', family: 'baseline', size: 'compact' } },
);
