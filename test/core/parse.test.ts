import test from 'ava';
import { UsageError } from '../../src/core/errors.js';
import { tmpdir } from 'node:os';
import { camel, parseGrid, parseInputRange, parseNumber, resolveParams } from '../../src/core/parse.js';
import { defineAttack } from '../../src/core/plugin-api.js';
import { createRegistry, Registry } from '../../src/core/registry.js';

test('grids accept lists, fractions and ranges, sorted and deduplicated', (t) => {
  t.deepEqual(parseGrid('0,8/255,4/255,4/255'), [0, 4 / 255, 8 / 255]);
  t.deepEqual(parseGrid('0:0.3:4').map((v) => +v.toFixed(6)), [0, 0.1, 0.2, 0.3]);
  t.deepEqual(parseGrid('0:8/255:3'), [0, 4 / 255, 8 / 255]);
});

test('negative, NaN and malformed sizes are usage errors', (t) => {
  for (const bad of ['-0.1', 'abc', '0,,1', '1/0', '0:1', '0:1:0', '0:1:x', '/5', '0,/255', '8/']) {
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
  t.deepEqual(resolveParams({ id: 'pgd', params: specs }, { stepSize: '1/255', randomStart: 'false' }), {
    steps: 20,
    'step-size': 1 / 255,
    norm: 'linf',
    'random-start': false,
  });
  t.throws(() => resolveParams({ id: 'pgd', params: specs }, { norm: 'l1' }), { instanceOf: UsageError, message: /linf, l2/ });
  t.throws(() => resolveParams({ id: 'pgd', params: specs }, { steps: '2.5' }), { instanceOf: UsageError });
});

test('numeric params outside their bounds are usage errors naming the flag and the range', (t) => {
  const specs = {
    steps: { type: 'int', description: 'steps', default: 20, minimum: 1 },
    'step-size': { type: 'number', description: 'step size', exclusiveMinimum: 0 },
    rho: { type: 'number', description: 'rho', default: 0.75, exclusiveMinimum: 0, maximum: 1 },
    momentum: { type: 'number', description: 'momentum', default: 0.75, minimum: 0, maximum: 1 },
  } as const;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ steps: '0' }, /--steps '0' must be a whole number at least 1/],
    [{ steps: -3 }, /--steps -3 must be a whole number at least 1/],
    [{ stepSize: '-1' }, /--step-size '-1' must be a number greater than 0/],
    [{ stepSize: 0 }, /--step-size 0 must be a number greater than 0/],
    [{ rho: '0' }, /--rho '0' must be a number greater than 0 and at most 1/],
    [{ rho: '1.5' }, /--rho '1.5' must be a number greater than 0 and at most 1/],
    [{ momentum: '-0.1' }, /--momentum '-0.1' must be a number at least 0 and at most 1/],
    [{ steps: '' }, /--steps '' must be a whole number/],
  ];
  for (const [raw, message] of cases) t.throws(() => resolveParams({ id: 'pgd', params: specs }, raw), { instanceOf: UsageError, message }, JSON.stringify(raw));
  // The bounds themselves are allowed: a closed end includes its value.
  t.deepEqual(resolveParams({ id: 'pgd', params: specs }, { steps: '1', stepSize: '1/255', rho: 1, momentum: '0' }), { steps: 1, 'step-size': 1 / 255, rho: 1, momentum: 0 });
});

test('every built-in attack bounds its counts and step sizes', async (t) => {
  const registry = await createRegistry({ cwd: tmpdir() });
  const bad: [string, string, string][] = [
    ['pgd', 'steps', '0'],
    ['pgd', 'restarts', '0'],
    ['pgd', 'step-size', '-1'],
    ['apgd', 'steps', '0'],
    ['apgd', 'restarts', '0'],
    ['apgd', 'targets', '0'],
    ['apgd', 'rho', '0'],
    ['apgd', 'momentum', '2'],
    ['transfer', 'steps', '0'],
    ['square', 'queries', '0'],
    ['square', 'p-init', '0'],
    ['gaussian', 'draws', '0'],
  ];
  for (const [id, name, value] of bad) {
    const attack = registry.get('attack', id);
    t.throws(() => resolveParams(attack, { [camel(name)]: value }), { instanceOf: UsageError, message: new RegExp(`--${name} '${value}' must be`) }, `${id} --${name} ${value}`);
  }
});

test('the registry refuses an attack whose param spec cannot be enforced', (t) => {
  const attack = (params: Record<string, unknown>) =>
    defineAttack({ id: 'x', description: 'x', params: params as never, budget: () => null, defaultGrid: () => [0], run: async ({ x }) => x });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ steps: { type: 'int', description: 's', default: 0, minimum: 1 } }, /'steps' has the default 0, outside/],
    [{ steps: { type: 'int', description: 's', default: 2.5 } }, /'steps' has the default 2.5/],
    [{ name: { type: 'string', description: 's', default: 'a', minimum: 1 } }, /'name' has bounds but is of type 'string'/],
    [{ name: { type: 'string', description: 's', default: 'c', choices: ['a', 'b'] } }, /'name' has the default 'c', not one of its choices/],
  ];
  for (const [params, message] of cases) t.throws(() => new Registry().add(attack(params), 'my-plugin.js'), { instanceOf: UsageError, message });
  t.notThrows(() => new Registry().add(attack({ steps: { type: 'int', description: 's', default: 1, minimum: 1 } }), 'my-plugin.js'));
});
