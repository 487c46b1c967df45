/** `robench data list` and `robench data fetch <id>`. */
import Table from 'cli-table3';
import { fetchDataset, listData } from '../../data/commands.js';

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
  console.log(status.map((d) => `${d.id}: ${d.dir}`).join('\n'));
  console.log(table.toString());
}

export async function dataFetchCommand(ids: string[], dataDir: string | undefined): Promise<void> {
  for (const id of ids) await fetchDataset(id, { dataDir });
}
