/** `robench audit`: check a model's robustness numbers for the classic ways they lie. */
import { join } from 'node:path';
import Table from 'cli-table3';
import ora from 'ora';
import { writeFileAtomic } from '../../runtime/atomic.js';
import { runAudit, type AuditReport } from '../../analysis/audit.js';
import { useBackend, type BackendName } from '../../runtime/backends.js';
import { loadModel } from '../../evaluation/load-model.js';
import type { Norm } from '../../core/plugin-api.js';
import type { Registry } from '../../core/registry.js';
import type { CommandModule } from '../command.js';
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

/** Budgets at which the literature reports robustness for each dataset. */
const STANDARD_EPS: Record<Norm, Record<string, number>> = {
  linf: { mnist: 0.3, 'fashion-mnist': 0.1, cifar10: 8 / 255, svhn: 8 / 255 },
  l2: { mnist: 2, 'fashion-mnist': 1.5, cifar10: 0.5, svhn: 0.5 },
};

/**
 * A model solving at inference is also attacked by transfer from this conventional zoo model
 * unless --transfer-from names another: the solver's gradient may mislead white-box attacks.
 */
const ITERATIVE_SURROGATE = 'baseline';

const VERDICT_LABEL = { pass: 'pass', warn: 'WARN', error: 'ERROR', skipped: 'skipped' } as const;

/** A check that warns or could not run leaves the audit unproven, so either fails it. */
export const auditExitCode = (report: AuditReport): number => (report.checks.some((c) => c.verdict === 'warn' || c.verdict === 'error') ? 1 : 0);

/** Runs the audit, prints its table and writes audit.json; returns the exit code (1 when a check warns or failed). */
export async function auditCommand(registry: Registry, opts: AuditCommandOptions): Promise<number> {
  const backend = await useBackend(opts.backend);
  const { model, dataset } = await loadModel(registry, { model: opts.model, dataset: opts.dataset, inputRange: opts.inputRange, offline: opts.offline });
  const spinner = ora({ stream: process.stderr }).start('loading data');
  try {
    const data = await dataset.load({ split: 'test', samples: opts.samples, dataDir: opts.dataDir, offline: opts.offline });
    const eps = opts.eps ?? STANDARD_EPS[opts.norm][model.dataset] ?? 8 / 255;
    const report = await runAudit(registry, {
      model,
      data,
      norm: opts.norm,
      eps,
      seed: opts.seed,
      batchSize: opts.batch,
      transferSource: opts.transferFrom ?? (model.iterative ? ITERATIVE_SURROGATE : undefined),
      squareQueries: opts.queries,
      onStep: (label) => (spinner.text = `audit of ${model.id}: ${label}`),
    });
    spinner.succeed(`audit of ${model.id} [${model.dataset}] at ${opts.norm} ${Number(eps.toPrecision(4))} on ${data.count} samples (${backend.name})`);
    const table = new Table({ head: ['check', 'verdict', 'figures'], style: { head: [], border: [] }, wordWrap: true, colWidths: [40, 9, 50] });
    for (const c of report.checks) {
      const figures = Object.entries(c.values)
        .map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`)
        .join(', ');
      table.push([c.name, VERDICT_LABEL[c.verdict], figures]);
    }
    console.log(table.toString());
    for (const c of report.checks.filter((c) => c.verdict !== 'pass')) console.log(`${c.verdict}: ${c.name}: ${c.detail}`);
    if (report.trivialBudget) console.log(`note: ${report.trivialBudget}`);
    if (model.iterative) console.log(`note: ${model.id} solves at inference (${model.iterative.solver}); attacks follow its ${model.iterative.gradient} gradient`);
    const out = opts.out ?? join('robench-results', `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-audit-${model.id.replace(/[^\w.+-]+/g, '_')}`);
    const file = join(out, 'audit.json');
    await writeFileAtomic(file, `${JSON.stringify({ ...report, backend: backend.name }, null, 2)}\n`);
    console.error(`wrote ${file}`);
    return auditExitCode(report);
  } catch (err) {
    spinner.fail();
    throw err;
  } finally {
    model.dispose();
  }
}

export const auditModule: CommandModule = {
  name: ['audit'],
  description: 'check robustness numbers for gradient masking and weak attacks (Carlini et al. 2019); exit 1 when a check warns or fails',
  settings: [
    { ...RUN_SETTINGS.model, description: 'zoo model id, or the path/URL of a TensorFlow.js model.json' },
    { ...RUN_SETTINGS.dataset, description: "dataset (default: the model's own; required with a model file)" },
    RUN_SETTINGS.inputRange,
    RUN_SETTINGS.offline,
    choiceSetting({ name: 'norm', choices: ['linf', 'l2'] as const, default: 'linf', description: 'threat model' }),
    numberSetting({ name: 'eps', min: 0, max: 1000, description: 'budget (default: the standard one for the dataset)' }),
    { ...RUN_SETTINGS.samples, default: 200, description: 'test samples' },
    RUN_SETTINGS.batch,
    RUN_SETTINGS.seed,
    intSetting({ name: 'queries', min: 1, max: 1_000_000, default: 1000, description: 'Square attack queries' }),
    textSetting({ name: 'transferFrom', valueName: '<id>', default: 'baseline', description: 'zoo model to transfer attacks from' }),
    RUN_SETTINGS.dataDir,
    { ...RUN_SETTINGS.out, description: 'output folder for audit.json' },
    RUN_SETTINGS.backend,
  ],
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
