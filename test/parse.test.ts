import test from 'ava';
import { UsageError } from '../src/errors.js';
import { parseGrid, parseInputRange, parseNumber, resolveParams } from '../src/parse.js';

test('grids accept lists, fractions and ranges, sorted and deduplicated', (t) => {
  t.deepEqual(parseGrid('0,8/255,4/255,4/255'), [0, 4 / 255, 8 / 255]);
  t.deepEqual(parseGrid('0:0.3:4').map((v) => +v.toFixed(6)), [0, 0.1, 0.2, 0.3]);
  t.deepEqual(parseGrid('0:8/255:3'), [0, 4 / 255, 8 / 255]);
});

test('negative, NaN and malformed sizes are usage errors', (t) => {
  for (const bad of ['-0.1', 'abc', '0,,1', '1/0', '0:1', '0:1:0', '0:1:x']) {
    t.throws(() => parseGrid(bad), { instanceOf: UsageError }, bad);
  }
  t.throws(() => parseNumber('NaN', '--x'), { instanceOf: UsageError });
});

test('input ranges', (t) => {
  t.deepEqual(parseInputRange('0,255'), [0, 255]);
  t.deepEqual(parseInputRange('-1, 1'), [-1, 1]);
  t.throws(() => parseInputRange('0,2'), { instanceOf: UsageError });
});

test('attack params are typed, defaulted and checked', (t) => {
  const specs = {
    steps: { type: 'int', description: 'steps', default: 20 },
    'step-size': { type: 'number', description: 'step size' },
    norm: { type: 'string', description: 'norm', default: 'linf', choices: ['linf', 'l2'] },
    'random-start': { type: 'boolean', description: 'random start', default: true },
  } as const;
  t.deepEqual(resolveParams('pgd', specs, { stepSize: '1/255', randomStart: 'false' }), {
    steps: 20,
    'step-size': 1 / 255,
    norm: 'linf',
    'random-start': false,
  });
  t.throws(() => resolveParams('pgd', specs, { norm: 'l1' }), { instanceOf: UsageError, message: /linf, l2/ });
  t.throws(() => resolveParams('pgd', specs, { steps: '2.5' }), { instanceOf: UsageError });
});
