/**
 * Evaluates a run plan: every model under every attack, on the same samples. Each model is
 * loaded once, its budgets checked and its test data loaded before any attack runs; with
 * `plan.saved` the results are saved after every slice, and the pairs an interrupted run
 * finished are taken from it instead of being evaluated again.
 */
import { measureSparsity } from '../analysis/activation-stats.js';
import { checkBudgets } from '../core/parse.js';
import { UsageError } from '../core/errors.js';
import { evaluatePair } from './evaluate-pair.js';
import type { ReportRun } from './gallery.js';
import type { RunResult, SparsityLayer } from '../core/plugin-api.js';
import type { RunHooks, RunPlan } from './run-plan.js';

/** A finished result of the interrupted run, as a finished run holds it. */
const finished = ({ complete: _complete, ...result }: RunResult): RunResult => result;

export async function evaluateRun(plan: RunPlan, hooks: RunHooks = {}): Promise<ReportRun[]> {
  const prior = plan.saved?.prior ?? [];
  const results: ReportRun[] = [];
  const save = async (partial?: RunResult): Promise<void> => plan.saved?.state.save(results, partial);
  for (const source of plan.models) {
    const first = results.length;
    // A model whose pairs all finished before the interrupt is not even loaded.
    if (plan.attacks.every((_, k) => first + k < prior.length && !prior[first + k]!.pending)) {
      results.push(...prior.slice(first, first + plan.attacks.length).map(finished));
      continue;
    }
    const { model, dataset, owned } = await source.load();
    try {
      // Every budget of every attack, before the data loads or anything is computed.
      for (const { attack, params } of plan.attacks) {
        checkBudgets(plan.grid ?? attack.defaultGrid(dataset.id, params), attack.budget(params), dataset.imageShape, plan.grid ? plan.gridName : `the default grid of ${attack.id}`);
      }
      // The first write, once every setting of this model is known good: a mistyped run leaves the folder as it was.
      await save();
      hooks.onLoadingData?.(dataset.id);
      const data = await dataset.load({ split: 'test', samples: plan.samples, dataDir: plan.dataDir, offline: plan.offline });
      let sparsity: SparsityLayer[] | undefined;
      const sparsityOf = async (indices: number[]) => (sparsity ??= await measureSparsity(model, data, indices, plan.batch));
      for (const setting of plan.attacks) {
        const before = prior[results.length];
        if (before && !before.pending) {
          results.push(finished(before));
          continue;
        }
        if (before && (before.model.id !== model.id || before.attack.id !== setting.attack.id)) {
          throw new UsageError(
            `${plan.saved!.dir}/results.json does not match its run.json (${before.model.id} / ${before.attack.id} where ${model.id} / ${setting.attack.id} was expected)`,
            'start the run again without --resume',
          );
        }
        hooks.onPairStart?.({ model: model.id, attack: setting.attack.id });
        results.push(await evaluatePair({ plan, source, model, dataset, data, setting, before, sparsity: sparsityOf, savePartial: plan.saved && save }, hooks));
        await save();
      }
    } finally {
      if (owned) model.dispose();
    }
  }
  return results;
}
