/**
 * The plugin ids a command names, looked up in the registry before anything loads, by the real
 * run and `--dry-run` alike (CommandModule.check): an unknown id is a usage error in a second.
 */
import type { Registry } from '../core/registry.js';
import { looksLikeModelPath } from '../evaluation/user-model.js';

/**
 * `--model` (one zoo id, or with `list` several comma-separated; a model file is checked when it
 * loads) and `--dataset` when given.
 */
export function checkModelAndDataset(registry: Registry, values: ReadonlyMap<string, unknown>, opts: { list?: boolean } = {}): void {
  const model = values.get('model');
  if (typeof model === 'string' && !looksLikeModelPath(model)) for (const id of opts.list ? model.split(',') : [model]) registry.get('model', id.trim());
  const dataset = values.get('dataset');
  if (typeof dataset === 'string') registry.get('dataset', dataset);
}
