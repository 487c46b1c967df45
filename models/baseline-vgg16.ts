import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'baseline-vgg16',
  'VGG16 baseline for 32x32 colour images (conv -> ReLU -> batch norm), the layout of Cekic et al. (2022)',
  { training: { trainer: 'zoo', family: 'baseline', size: 'vgg16' } },
);
