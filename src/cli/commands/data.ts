/** `robench data list` and `robench data fetch <id>`. */
import Table from 'cli-table3';
import { fetchDataset, listData, manifest } from '../../data/commands.js';
import type { CommandModule } from '../command.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

const size = (bytes: number): string => (bytes < 2 ** 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

export async function dataListCommand(dataDir: string | undefined, json: boolean): Promise<void> {
  const status = await listData({ dataDir });
  if (json) {
    console.log(JSON.stringify(status, null, 2));
    return;
  }
  const table = new Table({ head: ['dataset', 'file', 'size', 'state'], style: { head: [], border: [] } });
  for (const d of status) {
    for (const f of d.files) table.push([d.id, f.name, f.present ? size(f.bytes) : '', !f.present ? 'missing' : f.verified ? 'verified' : 'CHECKSUM MISMATCH']);
  }
  // "missing" alone reads as "cannot run": say which datasets run anyway, on the images robench ships.
  const bundled = (d: (typeof status)[number]): string =>
    d.bundledTestImages > 0
      ? `bundled: the first ${d.bundledTestImages.toLocaleString('en-US')} test images (used while the files below are missing and --samples is ${d.bundledTestImages} or fewer)`
      : `nothing bundled: \`robench data fetch ${d.id}\` or --data-dir`;
  console.log(status.map((d) => `${d.id}: ${d.dir}\n  ${bundled(d)}`).join('\n'));
  console.log(table.toString());
}

export async function dataFetchCommand(ids: string[], dataDir: string | undefined): Promise<void> {
  for (const id of ids) await fetchDataset(id, { dataDir });
}

const dataDirSetting = textSetting({ name: 'dataDir', valueName: '<dir>', description: 'data folder (default: ROBENCH_DATA or the cache)' });

export const dataListModule: CommandModule = {
  name: ['data', 'list'],
  description: 'datasets in the data folder, with sizes and checksum verification, and the test subsets bundled with robench',
  settings: [dataDirSetting, booleanSetting({ name: 'json', description: 'machine-readable output' })],
  run: ({ values: v }) => dataListCommand(v.get('dataDir') as string | undefined, v.get('json') === true),
};

export const dataFetchModule: CommandModule = {
  name: ['data', 'fetch'],
  description: 'download and verify the original files of datasets',
  args: [{ name: 'ids', variadic: true, description: 'dataset ids' }],
  settings: [dataDirSetting],
  check: ({ args }) => void args.forEach((id) => manifest(id)),
  run: ({ values: v, args }) => dataFetchCommand(args, v.get('dataDir') as string | undefined),
};
