/**
 * Projected Gradient Descent (Madry et al. 2018, "Towards Deep Learning Models
 * Resistant to Adversarial Attacks"): from a random point of the eps-ball, repeat
 *   x_{t+1} = Proj_{B(x, eps) ∩ [0,1]}(x_t + alpha * d(grad_x CE(f(x_t), y)))
 * with d = sign for l-inf and d = g / ||g||_2 for l2 (`--loss margin` or `dlr` ascends those
 * losses instead of CE). The result is each sample's
 * worst case over all steps and restarts (see src/core/worst-case.ts).
 *
 * TRADES' inner maximisation (Zhang et al. 2019) is this attack with `--loss kl`, which ascends
 * KL(softmax(f(x)) || softmax(f(x_t))) from the clean prediction f(x), computed once per call and
 * held fixed, and `--start-sigma 0.001`, their start x + 0.001 N(0, 1) instead of a uniform
 * point of the ball; without early stopping each sample then keeps its highest-KL iterate.
 * Adversarial training (src/training/adversarial.ts) runs it so; as an evaluation attack the KL
 * loss needs no label and pushes in whichever direction the prediction moves fastest.
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget:
 *   import { attack } from 'robench';
 *   import { pgd } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: pgd, eps: [0.1, 0.2], params: { steps: 40, restarts: 2 } });
 */
import * as tf from '@tensorflow/tfjs';
import { crossEntropy, defaultEpsGrid, defineAttack, dlr, givenAs, klFromClean, l2Norms, marginLoss, type Norm, type ParamNamer, perSample, type PerSampleLoss, project, type Rng, steepestDirection, UsageError, WorstCase } from '../src/sdk.js';

type PgdLoss = 'ce' | 'margin' | 'dlr' | 'kl';
const labelLosses: Record<Exclude<PgdLoss, 'kl'>, PerSampleLoss> = { ce: crossEntropy, margin: marginLoss, dlr };

type PgdParams = {
  norm: Norm;
  loss: PgdLoss;
  steps: number;
  'step-size'?: number;
  restarts: number;
  'random-start': boolean;
  'start-sigma'?: number;
};

/**
 * A uniform point of the eps-ball around x, clipped to [0, 1]. For l2, a normal
 * direction and radius eps * u^(1/d) make the point uniform in the d-dimensional ball.
 */
export function randomStart(norm: Norm, x: tf.Tensor4D, eps: number, rng: Rng): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    if (norm === 'linf') return tf.clipByValue(tf.add(x, rng.uniform(x.shape, -eps, eps)), 0, 1) as tf.Tensor4D;
    const direction = rng.normal(x.shape) as tf.Tensor4D;
    const unit = tf.div(direction, perSample(tf.maximum(l2Norms(direction), 1e-12) as tf.Tensor1D));
    const radius = tf.mul(eps, tf.pow(rng.uniform([n, 1, 1, 1], 0, 1), 1 / (h * w * c)));
    return tf.clipByValue(tf.add(x, tf.mul(unit, radius)), 0, 1) as tf.Tensor4D;
  });
}

/** TRADES' start: x + sigma * N(0, 1), projected into the eps-ball and [0, 1]. */
export const normalStart = (norm: Norm, x: tf.Tensor4D, eps: number, sigma: number, rng: Rng): tf.Tensor4D =>
  tf.tidy(() => project(norm, x, tf.add(x, rng.normal(x.shape, 0, sigma)) as tf.Tensor4D, eps));

/**
 * The params that do not go together, refused wherever they are resolved (before anything loads)
 * and again by run() for a call that bypassed that (`named` then spells them as flags).
 */
function check(p: PgdParams, named: ParamNamer<PgdParams>): void {
  if (p['start-sigma'] !== undefined && !p['random-start']) {
    throw new UsageError(`${named('start-sigma', p['start-sigma'])} sets the random start, which ${named('random-start', false)} turns off`, `drop one of them: ${named('start-sigma')} is a random start of its own`);
  }
  // KL from the clean prediction is 0 at x, its minimum: its gradient there is exactly 0, so from x no step moves.
  if (p.loss === 'kl' && !p['random-start']) {
    throw new UsageError(`${named('loss', 'kl')} has a zero gradient at the clean image, so without a random start (${named('random-start', false)}) the attack never moves`, `keep the random start (TRADES': ${named('start-sigma', 0.001)})`);
  }
}

const asFlag: ParamNamer<PgdParams> = (param, value) => givenAs({ source: 'flag' }, param, value);

export default defineAttack<PgdParams>({
  id: 'pgd',
  description: 'Projected Gradient Descent (Madry et al. 2018) with random start, l-inf or l2, worst case over steps and restarts',
  params: {
    norm: { type: 'string', description: 'threat model', default: 'linf', choices: ['linf', 'l2'] },
    loss: { type: 'string', description: 'loss to maximise: cross-entropy, the margin max_{i!=y} z_i - z_y, DLR, or the KL divergence from the clean prediction (TRADES)', default: 'ce', choices: ['ce', 'margin', 'dlr', 'kl'] },
    steps: { type: 'int', description: 'gradient steps per restart', default: 20, minimum: 1 },
    'step-size': { type: 'number', description: 'step size alpha (default 2.5 * eps / steps)', exclusiveMinimum: 0 },
    restarts: { type: 'int', description: 'independent random restarts', default: 1, minimum: 1 },
    'random-start': { type: 'boolean', description: 'start from a uniform point of the eps-ball', default: true },
    'start-sigma': { type: 'number', description: "start from x + sigma * N(0, 1) instead (TRADES' 0.001)", exclusiveMinimum: 0 },
  },
  budget: (p) => p.norm,
  perturbationLabel: () => 'eps',
  defaultGrid: (dataset, p) => defaultEpsGrid(dataset, p.norm),
  check,
  async run(ctx) {
    const { x, y, eps, params: p } = ctx;
    check(p, asFlag);
    const alpha = p['step-size'] ?? (2.5 * eps) / p.steps;
    const sigma = p['start-sigma'];
    // KL's target: the clean prediction, once per call; its rows follow the samples still attacked.
    const clean = p.loss === 'kl' ? tf.tidy(() => ctx.model(x)) : undefined;
    const objective = (rows: tf.Tensor1D): PerSampleLoss => (clean ? klFromClean(tf.gather(clean, rows)) : labelLosses[p.loss as Exclude<PgdLoss, 'kl'>]);
    const worst = new WorstCase(x, y, ctx.earlyStop, clean ? 'loss' : 'margin');
    try {
      for (let r = 0; r < p.restarts; r++) {
        const rng = ctx.rng.fork(`restart-${r}`);
        const start = !p['random-start'] ? x.clone() : sigma !== undefined ? normalStart(p.norm, x, eps, sigma, rng) : randomStart(p.norm, x, eps, rng);
        // Only samples no earlier iterate has fooled are attacked, each until it is fooled.
        const a = await worst.remaining(x, start);
        for (let t = 0; t < p.steps && a.size > 0; t++) {
          const next = tf.tidy(() => {
            const { grad, loss, logits } = ctx.inputGradient(a.xadv, objective(a.rows), a.y);
            worst.update(a.xadv, loss, logits, a.rows);
            return project(p.norm, a.x, tf.add(a.xadv, tf.mul(alpha, steepestDirection(p.norm, grad))), eps);
          });
          await a.advance(next);
        }
        if (a.size > 0) {
          tf.tidy(() => {
            const logits = ctx.model(a.xadv);
            worst.update(a.xadv, objective(a.rows)(logits, a.y), logits, a.rows);
          });
        }
        a.dispose();
      }
    } finally {
      clean?.dispose();
    }
    return worst.result();
  },
});
