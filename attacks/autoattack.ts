/**
 * AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
 * ensemble of diverse parameter-free attacks"): a cascade of attacks at one budget eps,
 *   R_0 = the samples the model classifies correctly,
 *   x'_i = A_m(x_i) for i in R_{m-1},   R_m = { i in R_{m-1} : f(x'_i) = y_i },
 * so each member attacks only what every earlier member failed to break, and a sample is
 * robust iff it is in R_M: the worst case over the members, per sample.
 *
 * Versions (--aa-version; autoattack.py set_version):
 *   standard  APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5,000 queries); 1 restart each
 *   plus      APGD-CE and APGD-DLR (5 restarts), FAB (5 restarts), Square, APGD-T, FAB-T
 *   rand      APGD-CE and APGD-DLR with EOT over 20 draws, for randomised models
 *   custom    --attacks: AutoAttack names or any registered attack, `id:param=value`
 *
 * `run` returns one batch per member (the member's example where it ran and fooled the
 * model, else the clean image), so the engine takes the worst case and records which
 * member broke each sample; `--individual` also runs every member alone on the same
 * samples (run_standard_evaluation_individual).
 *
 * Example:
 *   robench run --model hebbian --attack autoattack --aa-version custom --attacks apgd-ce,apgd-t --eps 0,2/255
 *   robench run --model hebbian --attack autoattack --norm l2 --eps 0,0.25 --individual true
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget:
 *   import { attack } from 'robench';
 *   import { autoattack } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: autoattack, eps: 0.1, params: { 'aa-version': 'standard' } });
 */
import * as tf from '@tensorflow/tfjs';
import {
  type AttackContext,
  type AttackPlugin,
  budgetLimit,
  checkAttackOutput,
  defaultEpsGrid,
  defineAttack,
  givenAs,
  type Member,
  type Norm,
  type ParamNamer,
  parseMembers,
  perturbationNorms,
  resolveMember,
  runAttack,
  UsageError,
  type Version,
  versionMembers,
} from '../src/sdk.js';

type AutoAttackParams = { norm: Norm; 'aa-version': Version; attacks: string; individual: boolean; eot?: number };

let find: ((id: string) => AttackPlugin) | undefined;

const asFlag: ParamNamer<AutoAttackParams> = (param, value) => givenAs({ source: 'flag' }, param, value);

/** The cascade, its members' params resolved (each checked by its own attack); `named` spells the params in errors. */
function members(p: AutoAttackParams, named = asFlag): Member[] {
  if (!find) throw new Error('autoattack: not registered, so its members cannot be looked up');
  const version = p['aa-version'];
  if (version !== 'custom' && p.attacks !== '') throw new UsageError(`${named('attacks')} is for ${named('aa-version', 'custom')}, not ${version}`, `add ${named('aa-version', 'custom')}, or drop ${named('attacks')}`);
  if (version === 'custom' && p.attacks === '') throw new UsageError(`${named('aa-version', 'custom')} needs ${named('attacks')}`, `e.g. ${named('attacks', 'apgd-ce,apgd-t')} (what the HaH paper ran)`);
  const specs = version === 'custom' ? parseMembers(p.attacks) : versionMembers(version);
  return specs.map((s) => resolveMember(s, p.norm, p.eot, find!));
}

/**
 * The streams the engine gives the member run alone at this budget (src/core/engine.ts), so a
 * member breaks in the cascade exactly the samples it breaks alone that reach it: the
 * ensemble is never weaker than a member, per sample.
 */
const memberStreams = (member: Member, eps: number): string => (member.attack.strategy === 'minimization' ? `${member.attack.id}@minimal` : `${member.attack.id}@${eps}`);

/** The rows of `part` (examples of the samples at `rows`) placed into a copy of the clean batch. */
function placed(x: tf.Tensor4D, rows: number[], part: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const n = x.shape[0];
    const at = tf.tensor2d(rows, [rows.length, 1], 'int32');
    const mask = tf.greater(tf.scatterND(at, tf.ones([rows.length]), [n]), 0);
    // scatterND into a fresh tensor, not tensorScatterUpdate: tfjs-backend-cpu writes the latter into its input's buffer.
    return tf.where(tf.reshape(mask, [n, 1, 1, 1]), tf.scatterND(at, part, x.shape), x) as tf.Tensor4D;
  });
}

/**
 * One member on the samples at `rows`: per sample its first returned version that fools
 * the model inside the budget (a minimization member's examples beyond eps do not count),
 * else the clean image; and which samples it broke.
 */
async function runMember(ctx: AttackContext, member: Member, rows: number[]): Promise<{ example: tf.Tensor4D; broke: boolean[] }> {
  const rowIndex = tf.tensor1d(rows, 'int32');
  const x = tf.gather(ctx.x, rowIndex);
  const y = tf.gather(ctx.y, rowIndex);
  rowIndex.dispose();
  const sub = ctx.derive({ x, y, params: member.params, rng: ctx.rng.rows(rows, memberStreams(member, ctx.eps)) });
  const outputs = await runAttack(member.attack, sub).catch((err: unknown) => {
    tf.dispose([x, y]);
    throw err;
  });
  let example = x.clone();
  let fooled: tf.Tensor1D = tf.zeros([rows.length], 'bool');
  try {
    const minimization = member.attack.strategy === 'minimization';
    for (const xadv of outputs) {
      await checkAttackOutput(member.attack.id, x, xadv, minimization ? Infinity : ctx.eps, minimization ? null : ctx.params.norm as Norm);
      const [next, nextFooled] = tf.tidy(() => {
        const inBudget = tf.lessEqual(perturbationNorms(x, xadv, ctx.params.norm as Norm), budgetLimit(ctx.eps));
        const fools = tf.logicalAnd(inBudget, tf.notEqual(tf.argMax(ctx.model(xadv), 1), y));
        const take = tf.logicalAnd(fools, tf.logicalNot(fooled));
        return [tf.where(tf.reshape(take, [-1, 1, 1, 1]), xadv, example) as tf.Tensor4D, tf.logicalOr(fooled, fools) as tf.Tensor1D];
      });
      tf.dispose([example, fooled]);
      [example, fooled] = [next, nextFooled];
    }
    const broke = Array.from(await fooled.data(), (v) => v !== 0);
    return { example, broke };
  } finally {
    tf.dispose([...outputs, x, y, fooled]);
  }
}

export default defineAttack<AutoAttackParams>({
  id: 'autoattack',
  description: 'AutoAttack (Croce & Hein 2020): a cascade of attacks, each on what the earlier ones left robust; worst case per sample',
  params: {
    norm: { type: 'string', description: 'threat model', default: 'linf', choices: ['linf', 'l2'] },
    // AutoAttack's `version`; --version is robench's own flag.
    'aa-version': { type: 'string', description: "AutoAttack's version: standard | plus | rand (EOT 20) | custom (--attacks)", default: 'standard', choices: ['standard', 'plus', 'rand', 'custom'] },
    attacks: { type: 'string', description: 'custom cascade, in order: apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square, or any attack id with params as id:param=value', default: '' },
    individual: { type: 'boolean', description: 'also run every member alone on the same samples (per-member curves in results.json)', default: false },
    eot: { type: 'int', description: "EOT draws for the gradient members (default 1, 20 for --aa-version rand)", minimum: 1 },
  },
  budget: (p) => p.norm,
  perturbationLabel: () => 'eps',
  defaultGrid: (dataset, p) => defaultEpsGrid(dataset, p.norm),
  // --aa-version and --attacks, and every member's params (each checked by its own attack), refused before anything loads.
  check: (p, named) => void members(p, named),
  members: (p) => members(p).map((m) => m.name),
  individually: async (p) => members(p),
  registered(lookup) {
    find = lookup;
  },
  async run(ctx) {
    const cascade = members(ctx.params);
    const n = ctx.x.shape[0];
    // --no-sweep measures the naive cost: every member on every sample.
    let robust = Array.from({ length: n }, (_, i) => i);
    const versions: tf.Tensor4D[] = [];
    try {
      for (const member of cascade) {
        const rows = ctx.earlyStop ? robust : Array.from({ length: n }, (_, i) => i);
        if (rows.length === 0) {
          versions.push(ctx.x.clone());
          continue;
        }
        const { example, broke } = await runMember(ctx, member, rows);
        versions.push(placed(ctx.x, rows, example));
        example.dispose();
        const brokenNow = new Set(rows.filter((_, k) => broke[k]));
        robust = robust.filter((i) => !brokenNow.has(i));
      }
    } catch (err) {
      tf.dispose(versions);
      throw err;
    }
    return versions;
  },
});
