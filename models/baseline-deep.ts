import { zooModelPlugin } from '../src/zoo/zoo-plugin.js';

export default zooModelPlugin(
  'baseline-deep',
  "Twin of hebbian-deep with standard blocks only (conv without bias -> ReLU -> batch norm): 8-8-M-16-16-M-32-32-M-128-M on 32x32 colour, the authors' baseline at the paper's depth",
  { training: { trainer: 'zoo', family: 'baseline', size: 'deep' }, trainOn: 'cifar10' },
);
