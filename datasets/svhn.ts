import { defineDataset, loadSvhnSplit, SVHN, SVHN_SHAPE } from '../src/sdk.js';

export default defineDataset({
  id: 'svhn',
  description: 'SVHN street-view house-number digits (cropped), 32x32x3, 73,257 train / 26,032 test; downloaded on first use',
  imageShape: SVHN_SHAPE,
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  // The commonly published per-channel training-set statistics (the originals are
  // not available here to recompute them).
  normalization: { mean: [0.4377, 0.4438, 0.4728], std: [0.198, 0.201, 0.197] },
  load: (opts) => loadSvhnSplit(SVHN, opts),
});
