/**
 * What the engine enforces on every batch an attack returns, so that a buggy
 * attack can never report robustness numbers for perturbations it was not allowed.
 */
import * as tf from '@tensorflow/tfjs';
import { RobenchError, UsageError } from './errors.js';
import { perturbationNorms } from './norms.js';
import type { AttackContext, AttackPlugin, DatasetSplit, LoadedModel, Norm } from './plugin-api.js';
import { guardedCall, pluginLimits, type PluginLimits } from './plugin-guard.js';
import { logitsShapeProblem } from './plugin-results.js';

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

/** The runAttack calls under way, each marked when another call or evaluation ran beside it. */
const inFlight = new Set<{ overlapped: boolean }>();
/** Evaluations (evaluateCurve) under way on this thread. */
let evaluations = 0;

/** Marks an evaluation as started, so attack calls beside another one go uncounted; returns its end. */
export function evaluationStarted(): () => void {
  evaluations += 1;
  for (const call of inFlight) call.overlapped = true;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    evaluations -= 1;
  };
}

/** Per plugin: calls made and tensors left behind so far (a cache built on the first call is not a leak). */
const leakLedger = new Map<string, { calls: number; leaked: number; warned: boolean }>();

/** Forgets what earlier runs leaked (tests; a long-lived process starting a new run). */
export const resetPluginLedger = (): void => leakLedger.clear();

const describeValue = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? `an array holding ${v.map(describeValue).join(', ') || 'nothing'}` : v instanceof tf.Tensor ? (v.isDisposed ? 'a disposed tensor' : 'a tensor') : `${typeof v} ${String(v).slice(0, 40)}`);

/** The batches an attack returned, refused with its name when they are not live tensors. */
function checkReturned(attack: AttackPlugin, eps: number, returned: unknown): tf.Tensor4D[] {
  const outputs = Array.isArray(returned) ? returned : [returned];
  if (!outputs.every((t) => t instanceof tf.Tensor && !t.isDisposed)) {
    throw new RobenchError(
      `attack '${attack.id}' returned ${describeValue(returned)} at perturbation ${eps}, not a tf.Tensor4D or an array of them`,
      'return the perturbed batch (a live tensor of the input shape), or an array of versions of it',
    );
  }
  if (outputs.length === 0) {
    throw new RobenchError(`attack '${attack.id}' returned no batch (an empty array) at perturbation ${eps}`, 'return the perturbed batch, or an array of one or more versions of it');
  }
  return outputs as tf.Tensor4D[];
}

/**
 * Runs one attack call inside an engine scope, the one guarded path of every attack call (the
 * engine's, the minimal-perturbation curve's, AutoAttack's members'):
 * - the attack gets its own copies of the batch and labels (new storage, equal values): writing
 *   into them (dataSync() returns the backing array on the cpu backend) or disposing them cannot
 *   change the images the engine checks the budget against, nor the labels it counts with;
 * - what it returns is checked to be live tensors, with an error naming it;
 * - tensors it leaves behind beyond what it returns are counted: a warning names it and the count,
 *   and past `tensorLimit` over a run it is stopped (its first call may build a cache);
 * - a call that takes longer than `timeoutMs` is stopped with an error naming it;
 * - process.exit during the call throws instead of ending robench.
 * If the attack throws, the error names it (a usage error stays one) and every tensor it made and
 * did not keep is freed. On success nothing is freed: a plugin may cache tensors across calls.
 */
export async function runAttack(attack: AttackPlugin, ctx: AttackContext, limits: PluginLimits = pluginLimits()): Promise<tf.Tensor4D[]> {
  const engine = tf.engine();
  const scope = `attack ${attack.id} #${++attackCalls}`;
  // Calls that overlap (AutoAttack's members inside it, evaluations interleaved on one thread)
  // share tfjs's scope stack, so their tensors cannot be told apart: only a lone call is counted.
  const call = { overlapped: inFlight.size > 0 || evaluations > 1 };
  for (const other of inFlight) other.overlapped = true;
  inFlight.add(call);
  // Made outside the attack's scope: they are the engine's to free, whatever the attack does.
  const [x, y] = tf.tidy(() => [tf.add(ctx.x, tf.scalar(0, ctx.x.dtype)) as tf.Tensor4D, tf.add(ctx.y, tf.scalar(0, ctx.y.dtype)) as tf.Tensor1D]);
  // derive() takes the batch it runs on from its caller, so it reaches no engine tensor either.
  const guarded: AttackContext = { ...ctx, x, y };
  engine.startScope(scope);
  let returned: unknown;
  try {
    returned = await guardedCall({ kind: 'attack', id: attack.id, method: 'run', at: `at perturbation ${ctx.eps}` }, () => attack.run(guarded), limits);
  } catch (err) {
    // Scopes are a stack: when evaluations interleave on one thread the top one may be
    // another call's, whose tensors are still in use, so only our own is freed.
    engine.endScope(engine.state.activeScope.name === scope ? undefined : engine.state.activeScope.track);
    tf.dispose([x, y]);
    throw err;
  } finally {
    inFlight.delete(call);
  }
  // What the attack's scope still holds, counted only when the scope is ours (interleaved calls share the stack).
  const own = engine.state.activeScope.name === scope ? engine.state.activeScope.track.filter((t) => !t.isDisposed) : undefined;
  engine.endScope(engine.state.activeScope.track);
  let outputs: tf.Tensor4D[];
  try {
    outputs = checkReturned(attack, ctx.eps, returned);
  } catch (err) {
    tf.dispose([x, y]);
    throw err;
  }
  // The copies are freed unless the attack returned one of them (an attack may return its input unchanged).
  for (const t of [x, y]) if (!outputs.includes(t as tf.Tensor4D)) t.dispose();
  if (own && !call.overlapped) countLeaks(attack.id, own.filter((t) => !outputs.includes(t as tf.Tensor4D)).length, limits);
  return outputs;
}

function countLeaks(pluginId: string, left: number, limits: PluginLimits): void {
  const entry = leakLedger.get(pluginId) ?? { calls: 0, leaked: 0, warned: false };
  leakLedger.set(pluginId, entry);
  entry.calls += 1;
  // A first call may build what the plugin keeps for later calls (a surrogate model, a lookup table).
  if (entry.calls === 1 || left === 0) return;
  entry.leaked += left;
  if (entry.leaked > limits.tensorLimit) {
    throw new RobenchError(
      `attack '${pluginId}' has left ${entry.leaked} tensors behind over ${entry.calls} calls, past the limit of ${limits.tensorLimit}`,
      'dispose what the attack does not return (wrap its steps in tf.tidy), or raise ROBENCH_PLUGIN_TENSOR_LIMIT',
    );
  }
  if (!entry.warned) {
    entry.warned = true;
    limits.warn(`attack '${pluginId}' left ${left} tensors behind in call ${entry.calls} (memory grows with every batch); dispose what it does not return, e.g. wrap its steps in tf.tidy`);
  }
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
 * The model's logits, refused when their class count differs from the one the model declares
 * or when any is NaN or infinite: an argmax over NaN is class 0, which would be counted as a
 * prediction. `on` says of which images, for the error ('on clean data').
 */
export async function checkedLogits(model: LoadedModel, x: tf.Tensor4D, on = 'on clean data'): Promise<tf.Tensor2D> {
  const logits = tf.tidy(() => model.logits(x));
  const fail = (what: string, hint: string): never => {
    if (logits instanceof tf.Tensor) logits.dispose();
    throw new RobenchError(`the model ${model.id} ${what} ${on}`, hint);
  };
  const problem = logitsShapeProblem(logits, x.shape[0], model.numClasses);
  if (problem) fail(problem, 'the model must return one logit per class for every image: [batch, classes]');
  const bad = tf.tidy(() => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(logits)), 'float32')));
  const [count] = await bad.data();
  bad.dispose();
  if (count > 0) fail(`returned ${count} NaN or infinite logits`, 'check the weights (a diverged training run) and the --input-range the model expects');
  return logits;
}
