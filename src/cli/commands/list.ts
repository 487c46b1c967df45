/** `robench list [kind] [--json]`: every registered plugin with a one-line description. */
import { UsageError } from '../../core/errors.js';
import type { PluginKind } from '../../core/plugin-api.js';
import type { Registry } from '../../core/registry.js';
import { fitTable, terminalColumns } from '../../report/terminal-table.js';
import type { CommandModule } from '../command.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

const KINDS = new Map<string, PluginKind>([
  ['model', 'model'],
  ['models', 'model'],
  ['attack', 'attack'],
  ['attacks', 'attack'],
  ['dataset', 'dataset'],
  ['datasets', 'dataset'],
  ['reporter', 'reporter'],
  ['reporters', 'reporter'],
]);

/** The kinds `robench list [kind]` shows: all, or the one named. */
function kindsOf(kind: string | undefined): PluginKind[] {
  if (kind !== undefined && !KINDS.has(kind)) {
    throw new UsageError(`unknown plugin kind '${kind}'`, 'use one of models, attacks, datasets, reporters');
  }
  return kind ? [KINDS.get(kind)!] : ['model', 'attack', 'dataset', 'reporter'];
}

export function listCommand(registry: Registry, kind: string | undefined, json: boolean): void {
  const kinds = kindsOf(kind);
  if (json) {
    const out = Object.fromEntries(
      kinds.map((k) => [
        `${k}s`,
        registry.list(k).map((p) => ({
          id: p.id,
          description: p.description,
          origin: registry.origins.get(p),
          ...(p.kind === 'model' ? { datasets: p.datasets } : {}),
          ...(p.kind === 'attack' ? { params: p.params } : {}),
        })),
      ]),
    );
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  for (const k of kinds) {
    const rows = registry.list(k).map((p) => [p.id, p.description + (p.kind === 'model' ? ` (weights: ${p.datasets.join(', ') || 'none shipped'})` : '')]);
    // Descriptions are prose: piped, they still wrap at a readable width.
    console.log(fitTable([`${k}s`, 'description'], rows, terminalColumns() ?? 100));
  }
}

export const listModule: CommandModule = {
  name: ['list'],
  description: 'list registered plugins',
  args: [{ name: 'kind', optional: true, description: 'models | attacks | datasets | reporters' }],
  settings: [booleanSetting({ name: 'json', description: 'machine-readable output' })],
  check: ({ args }) => void kindsOf(args[0]),
  run: ({ values: v, args, registry }) => listCommand(registry, args[0], v.get('json') === true),
};
