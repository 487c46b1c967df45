/** `robench audit`: check a model's robustness numbers for the classic ways they lie. */
import { join } from 'node:path';
import Table from 'cli-table3';
import ora from 'ora';
import { writeFileAtomic } from '../../runtime/atomic.js';
import { chooseBudget, runAudit, type AuditReport } from '../../analysis/audit.js';
import { useBackend, type BackendName } from '../../runtime/backends.js';
import { loadModel } from '../../evaluation/load-model.js';
import type { Norm } from '../../core/plugin-api.js';
import type { Registry } from '../../core/registry.js';
import type { CommandModule } from '../command.js';
import { checkModelAndDataset } from '../check-ids.js';
import { RUN_SETTINGS } from '../../evaluation/run-settings.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

export interface AuditCommandOptions {
  /** A zoo id, or the path or URL of a model.json (with dataset and inputRange, as for `run`). */
  model: string;
  dataset?: string;
  inputRange: string;
  offline?: boolean;
  norm: Norm;
  eps?: number;
  samples: number;
  batch: number;
  seed: number;
  backend: BackendName;
  queries: number;
  transferFrom?: string;
  dataDir?: string;
  out?: string;
}


/**
 * A model solving at inference is also attacked by transfer from this conventional zoo model
 * unless --transfer-from names another: the solver's gradient may mislead white-box attacks.
 */
const ITERATIVE_SURROGATE = 'baseline';

const VERDICT_LABEL = { pass: 'pass', warn: 'WARN', error: 'ERROR', skipped: 'skipped' } as const;

/**
 * 1 when the user has something to act on: a check whose attack failed (the audit is unproven)
 * or a warning whose advice is for them. A warning marked informational (a symptom robench's own
 * attacks withstand) is printed but does not fail a script or CI job that runs the audit.
 */
export const auditExitCode = (report: AuditReport): number => (report.checks.some((c) => c.verdict === 'error' || (c.verdict === 'warn' && !c.informational)) ? 1 : 0);

/** Runs the audit, prints its table and writes audit.json; returns the exit code (see auditExitCode). */
export async function auditCommand(registry: Registry, opts: AuditCommandOptions): Promise<number> {
  const backend = await useBackend(opts.backend);
  const { model, dataset } = await loadModel(registry, { model: opts.model, dataset: opts.dataset, inputRange: opts.inputRange, offline: opts.offline });
  // ora draws frames and colours only on a terminal; elsewhere (a log, CI) each step is one plain line.
  const tty = process.stderr.isTTY === true;
  const spinner = tty ? ora({ stream: process.stderr }).start('loading data') : undefined;
  const step = (text: string) => (spinner ? (spinner.text = text) : console.error(text));
  try {
    const data = await dataset.load({ split: 'test', samples: opts.samples, dataDir: opts.dataDir, offline: opts.offline });
    let eps = opts.eps;
    let budgetNote: string | undefined;
    if (eps === undefined) {
      step(`audit of ${model.id}: choosing a budget (PGD-20 over the default ones for ${model.dataset})`);
      const chosen = await chooseBudget(registry, { model, data, norm: opts.norm, seed: opts.seed, batchSize: opts.batch });
      eps = chosen.eps;
      budgetNote = chosen.reason;
    }
    const report = await runAudit(registry, {
      model,
      data,
      norm: opts.norm,
      eps,
      seed: opts.seed,
      batchSize: opts.batch,
      transferSource: opts.transferFrom ?? (model.iterative ? ITERATIVE_SURROGATE : undefined),
      squareQueries: opts.queries,
      onStep: (label) => step(`audit of ${model.id}: ${label}`),
    });
    const done = `audit of ${model.id} [${model.dataset}] at ${opts.norm} ${Number(eps.toPrecision(4))} on ${data.count} samples (${backend.name})`;
    if (spinner) spinner.succeed(done);
    else console.error(done);
    if (budgetNote) console.log(`budget: ${budgetNote}`);
    const table = new Table({ head: ['check', 'verdict', 'figures'], style: { head: [], border: [] }, wordWrap: true, colWidths: [40, 9, 50] });
    for (const c of report.checks) {
      const figures = Object.entries(c.values)
        .map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`)
        .join(', ');
      table.push([c.name, c.informational ? 'note' : VERDICT_LABEL[c.verdict], figures]);
    }
    console.log(table.toString());
    for (const c of report.checks.filter((c) => c.verdict !== 'pass')) console.log(`${c.informational ? 'note (nothing to do)' : c.verdict}: ${c.name}: ${c.detail}`);
    if (report.trivialBudget) console.log(`note: ${report.trivialBudget}`);
    if (model.iterative) console.log(`note: ${model.id} solves at inference (${model.iterative.solver}); attacks follow its ${model.iterative.gradient} gradient`);
    const out = opts.out ?? join('robench-results', `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-audit-${model.id.replace(/[^\w.+-]+/g, '_')}`);
    const file = join(out, 'audit.json');
    await writeFileAtomic(file, `${JSON.stringify({ ...report, backend: backend.name, ...(budgetNote ? { budgetChoice: budgetNote } : {}) }, null, 2)}\n`);
    console.error(`wrote ${file}`);
    return auditExitCode(report);
  } catch (err) {
    spinner?.fail();
    throw err;
  } finally {
    model.dispose();
  }
}

export const auditModule: CommandModule = {
  name: ['audit'],
  description:
    "check robustness numbers for gradient masking and weak attacks (Carlini et al. 2019); without --eps, the largest of the dataset's standard budgets and its halves where PGD-20 leaves accuracy. Exit 1 when a check's attack failed or a check warns with something for you to do; warnings robench's own attacks already withstand (tiny gradients, saturated softmax) are printed as notes and exit 0",
  settings: [
    { ...RUN_SETTINGS.model, description: 'zoo model id, or the path/URL of a TensorFlow.js model.json' },
    { ...RUN_SETTINGS.dataset, description: "dataset (default: the model's own; required with a model file)" },
    RUN_SETTINGS.inputRange,
    RUN_SETTINGS.offline,
    choiceSetting({ name: 'norm', choices: ['linf', 'l2'] as const, default: 'linf', description: 'threat model' }),
    numberSetting({ name: 'eps', min: 0, max: 1000, description: "budget (default: the largest of the dataset's standard budget and its halves where PGD-20 leaves accuracy above noise)" }),
    { ...RUN_SETTINGS.samples, default: 200, description: 'test samples' },
    RUN_SETTINGS.batch,
    RUN_SETTINGS.seed,
    intSetting({ name: 'queries', min: 1, max: 1_000_000, default: 1000, description: 'Square attack queries' }),
    textSetting({ name: 'transferFrom', valueName: '<id>', default: 'baseline', description: 'zoo model to transfer attacks from' }),
    RUN_SETTINGS.dataDir,
    { ...RUN_SETTINGS.out, description: 'output folder for audit.json' },
    RUN_SETTINGS.backend,
  ],
  check: ({ values: v, registry }) => {
    checkModelAndDataset(registry, v);
    registry.get('model', v.get('transferFrom') as string);
  },
  run: ({ values: v, registry }) =>
    auditCommand(registry, {
      model: v.get('model') as string,
      dataset: v.get('dataset') as string | undefined,
      inputRange: v.get('inputRange') as string,
      offline: v.get('offline') as boolean,
      norm: v.get('norm') as Norm,
      eps: v.get('eps') as number | undefined,
      samples: v.get('samples') as number,
      batch: v.get('batch') as number,
      seed: v.get('seed') as number,
      backend: v.get('backend') as BackendName,
      queries: v.get('queries') as number,
      transferFrom: v.get('transferFrom') as string,
      dataDir: v.get('dataDir') as string | undefined,
      out: v.get('out') as string | undefined,
    }),
};
