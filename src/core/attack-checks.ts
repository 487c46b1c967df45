/**
 * What the engine enforces on every batch an attack returns, so that a buggy
 * attack can never report robustness numbers for perturbations it was not allowed.
 */
import * as tf from '@tensorflow/tfjs';
import { RobenchError, UsageError } from './errors.js';
import { perturbationNorms } from './norms.js';
import type { AttackContext, AttackPlugin, DatasetSplit, LoadedModel, Norm } from './plugin-api.js';

/** Absolute slack for float32 round-off in projections and clipping. */
export const BUDGET_TOLERANCE = 1e-6;

/** The largest perturbation that counts as inside the budget eps. */
export const budgetLimit = (eps: number): number => eps * (1 + BUDGET_TOLERANCE) + BUDGET_TOLERANCE;

export async function checkAttackOutput(
  attackId: string,
  x: tf.Tensor4D,
  xadv: tf.Tensor,
  eps: number,
  norm: Norm | null,
): Promise<void> {
  const fail = (what: string): never => {
    throw new RobenchError(
      `attack '${attackId}' violated its contract at perturbation ${eps}: ${what}`,
      'fix the attack so that it returns a batch of the input shape, finite, in [0, 1] and inside its budget',
    );
  };
  if (xadv.shape.join('x') !== x.shape.join('x')) fail(`returned shape [${xadv.shape}] for an input of shape [${x.shape}]`);
  if (xadv.dtype !== 'float32') fail(`returned dtype ${xadv.dtype}, expected float32`);
  const stats = tf.tidy(() => tf.stack([tf.min(xadv), tf.max(xadv), tf.sum(tf.cast(tf.isNaN(xadv), 'float32'))]));
  const [lo, hi, nans] = await stats.data();
  stats.dispose();
  if (nans > 0) fail(`returned ${nans} NaN values`);
  if (lo < -BUDGET_TOLERANCE || hi > 1 + BUDGET_TOLERANCE) fail(`pixels outside [0, 1] (min ${lo}, max ${hi})`);
  if (norm === null) return;
  const sizes = perturbationNorms(x, xadv as tf.Tensor4D, norm);
  const data = await sizes.data();
  sizes.dispose();
  const limit = budgetLimit(eps);
  const worst = Math.max(0, ...data);
  if (worst > limit) fail(`a perturbation of ${norm} size ${worst} exceeds the budget ${eps}`);
}

let attackCalls = 0;

/**
 * Runs one attack call inside an engine scope. If the attack throws, the error
 * names it (a usage error stays one) and every tensor it made and did not keep
 * is freed, so a failing plugin cannot leak memory into the rest of the run. On
 * success nothing is freed: a plugin may cache tensors (a surrogate model) across
 * calls. An empty array would count every sample as surviving.
 */
export async function runAttack(attack: AttackPlugin, ctx: AttackContext): Promise<tf.Tensor4D[]> {
  const engine = tf.engine();
  const scope = `attack ${attack.id} #${++attackCalls}`;
  engine.startScope(scope);
  let returned: tf.Tensor4D | tf.Tensor4D[];
  try {
    returned = await attack.run(ctx);
  } catch (err) {
    // Scopes are a stack: when evaluations interleave on one thread the top one may be
    // another call's, whose tensors are still in use, so only our own is freed.
    engine.endScope(engine.state.activeScope.name === scope ? undefined : engine.state.activeScope.track);
    const message = `attack '${attack.id}' failed at perturbation ${ctx.eps}: ${(err as Error).message ?? err}`;
    if (err instanceof UsageError) throw new UsageError(message, err.hint);
    const failure = new RobenchError(message, err instanceof RobenchError ? err.hint : 'fix the attack, or run with --verbose for its stack trace');
    failure.stack = (err as Error).stack;
    throw failure;
  }
  engine.endScope(engine.state.activeScope.track);
  const outputs = Array.isArray(returned) ? returned : [returned];
  if (outputs.length === 0) {
    throw new RobenchError(`attack '${attack.id}' returned no batch (an empty array) at perturbation ${ctx.eps}`, 'return the perturbed batch, or an array of one or more versions of it');
  }
  return outputs;
}

/**
 * Noise and corruption accuracy is averaged over the versions an attack returns,
 * with one denominator for the whole curve: a count that changes from call to call
 * would weigh batches unequally.
 */
export function checkVersionCount(attackId: string, count: number, expected: number | undefined): number {
  if (expected !== undefined && count !== expected) {
    throw new RobenchError(
      `attack '${attackId}' returned ${count} versions of a batch after returning ${expected} for an earlier one`,
      'return the same number of versions (draws, corruptions) from every call',
    );
  }
  return count;
}

/** Labels beyond the model's classes, or no samples at all, make every accuracy meaningless. */
export function checkSelection(model: LoadedModel, data: DatasetSplit, indices: number[]): void {
  if (indices.length === 0) {
    throw new UsageError('no samples to evaluate: the sample selection is empty', 'evaluate at least one sample (check --samples and --shard)');
  }
  const label = indices.map((i) => data.labels[i]).find((l) => l < 0 || l >= model.numClasses);
  if (label !== undefined) {
    throw new UsageError(`the data holds the label ${label}, but the model ${model.id} has ${model.numClasses} classes`, 'evaluate the model on the dataset it was trained on (--dataset)');
  }
}

/**
 * The model's clean logits, refused when their class count differs from the one
 * the model declares or when any is NaN or infinite: an argmax over NaN is
 * class 0, which would be counted as a prediction.
 */
export async function checkedLogits(model: LoadedModel, x: tf.Tensor4D): Promise<tf.Tensor2D> {
  const logits = tf.tidy(() => model.logits(x));
  const fail = (what: string, hint: string): never => {
    logits.dispose();
    throw new RobenchError(`the model ${model.id} ${what} on clean data`, hint);
  };
  if (logits.rank !== 2 || logits.shape[0] !== x.shape[0] || logits.shape[1] !== model.numClasses) {
    fail(`returned logits of shape [${logits.shape}] for ${x.shape[0]} images and ${model.numClasses} classes`, 'the model must return one logit per class for every image: [batch, classes]');
  }
  const bad = tf.tidy(() => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(logits)), 'float32')));
  const [count] = await bad.data();
  bad.dispose();
  if (count > 0) fail(`returned ${count} NaN or infinite logits`, 'check the weights (a diverged training run) and the --input-range the model expects');
  return logits;
}
