import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'hebbian',
  'Compact CNN whose first half of conv blocks are Hebbian/anti-Hebbian (normalised conv, divisive normalisation, fractional threshold), trained with the HaH local loss (Cekic et al., 2022)',
  { training: { trainer: 'zoo', family: 'hebbian', size: 'compact' } },
);
