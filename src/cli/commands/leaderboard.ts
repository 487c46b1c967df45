/** `robench leaderboard <dirs...>`: per dataset and threat model, models x budgets from saved results. */
import { UsageError } from '../../core/errors.js';
import { leaderboard, leaderboardHtml, leaderboardMarkdown, leaderboardText } from '../../analysis/leaderboard.js';
import { readResults } from './check.js';
import type { CommandModule } from '../command.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';
import { writeFileAtomic } from '../../runtime/atomic.js';

const FORMATS = { table: leaderboardText, md: leaderboardMarkdown, html: leaderboardHtml };

/** The leaderboard of every run in `inputs`, rendered in `format`. */
export function leaderboardCommand(inputs: string[], format: string): string {
  const render = FORMATS[format as keyof typeof FORMATS];
  if (!render) throw new UsageError(`--format '${format}' is not a leaderboard format`, `use one of ${Object.keys(FORMATS).join(', ')}`);
  return render(leaderboard(inputs.flatMap((path) => readResults(path))));
}

export const leaderboardModule: CommandModule = {
  name: ['leaderboard'],
  description: 'robust accuracy from saved results: one table per dataset and threat model (Linf, L2, corruptions, each noise), a row per model and sample set, each cell with its attack and n',
  args: [{ name: 'results', variadic: true, files: true, description: 'folders written by robench run, or their results.json' }],
  settings: [
    choiceSetting({ name: 'format', choices: ['table', 'md', 'html'] as const, default: 'table', description: 'output format' }),
    textSetting({ name: 'out', valueName: '<file>', description: 'write the table to a file instead of printing it' }),
  ],
  run: async ({ values: v, args }) => {
    const text = leaderboardCommand(args, v.get('format') as string);
    const out = v.get('out') as string | undefined;
    if (out === undefined) console.log(text);
    else {
      await writeFileAtomic(out, text);
      console.error(`wrote ${out}`);
    }
  },
};
