import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'hebbian-vgg16',
  'VGG16 with its first 6 conv layers Hebbian/anti-Hebbian, as in Cekic et al. (2022), for 32x32 colour images',
  { training: { trainer: 'zoo', family: 'hebbian', size: 'vgg16' } },
);
