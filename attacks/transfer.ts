/**
 * Transfer attack (Papernot et al. 2016; the black-box check of Carlini et al. 2019):
 * craft adversarial examples with a white-box attack on a surrogate model and
 * evaluate them on the target. If transfer beats white-box attacks on the target,
 * the target's gradients are masked.
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget:
 *   import { attack } from 'robench';
 *   import { transfer } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: transfer, eps: [0.1, 0.2], params: { 'source-model': 'baseline', inner: 'pgd' } });
 */
import { type AttackPlugin, createRegistry, defaultEpsGrid, defineAttack, type LoadedModel, makeAttackContext, type Norm, type Params, type Registry, runAttack, UsageError } from '../src/sdk.js';

type TransferParams = { 'source-model': string; inner: string; norm: Norm; steps: number };

let registryPromise: Promise<Registry> | undefined;
const builtins = (): Promise<Registry> => (registryPromise ??= createRegistry());
const surrogates = new Map<string, Promise<LoadedModel>>();

async function innerAttack(id: string): Promise<AttackPlugin> {
  const attack = (await builtins()).get('attack', id);
  if (attack.gradientFree || attack.id === 'transfer' || attack.budget(defaults(attack)) === null) {
    throw new UsageError(`--inner ${id} is not a white-box norm-ball attack`, 'use --inner pgd, fgsm or apgd');
  }
  return attack;
}

const defaults = (attack: AttackPlugin): Params => Object.fromEntries(Object.entries(attack.params).map(([k, s]) => [k, s.default]));

/** The inner attack's params: its defaults, with the transfer's norm and steps where it has them. */
function innerParams(attack: AttackPlugin, p: TransferParams): Params {
  const params = defaults(attack);
  if ('norm' in attack.params) params.norm = p.norm;
  if ('steps' in attack.params) params.steps = p.steps;
  return params;
}

function surrogate(id: string, dataset: string): Promise<LoadedModel> {
  const key = `${id}@${dataset}`;
  if (!surrogates.has(key)) surrogates.set(key, builtins().then((r) => r.get('model', id).load({ dataset })));
  return surrogates.get(key)!;
}

export default defineAttack<TransferParams>({
  id: 'transfer',
  description: 'white-box attack crafted on --source-model (default baseline), evaluated on --model',
  params: {
    'source-model': { type: 'string', description: 'zoo model the examples are crafted on', default: 'baseline' },
    inner: { type: 'string', description: 'white-box attack run on the source model', default: 'pgd' },
    norm: { type: 'string', description: 'threat model', default: 'linf', choices: ['linf', 'l2'] },
    steps: { type: 'int', description: 'steps of the inner attack', default: 20, minimum: 1 },
  },
  budget: (p) => p.norm,
  perturbationLabel: () => 'eps',
  defaultGrid: (dataset, p) => defaultEpsGrid(dataset, p.norm),
  gradientFree: true,
  async run(ctx) {
    const p = ctx.params;
    const attack = await innerAttack(p.inner);
    const source = await surrogate(p['source-model'], ctx.dataset);
    const inner = makeAttackContext({
      logits: (x) => source.logits(x),
      x: ctx.x,
      y: ctx.y,
      eps: ctx.eps,
      params: innerParams(attack, p),
      // The target's own streams, so transfer from a model to itself replays the white-box attack.
      rng: ctx.rng,
      numClasses: source.numClasses,
      dataset: ctx.dataset,
      // The surrogate's evaluations cost nothing on the target: only the target's are counted.
      counters: { forward: 0, gradient: 0 },
      // Without early stopping the inner attack pushes on past the first iterate that fools the
      // surrogate and returns each sample's most confidently misclassified one (src/core/worst-case.ts):
      // examples just across the surrogate's boundary rarely cross the target's.
      earlyStop: false,
    });
    // Through the engine's guarded path, as AutoAttack's members: the inner attack gets its own
    // copies of the batch, its returned batches are checked to be live tensors, its time bounded.
    return runAttack(attack, inner);
  },
});
