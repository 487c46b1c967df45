/** `robench leaderboard <dirs...>`: models x threat models from saved results. */
import { UsageError } from '../../core/errors.js';
import { leaderboard, leaderboardHtml, leaderboardMarkdown, leaderboardText } from '../../analysis/leaderboard.js';
import { readResults } from './check.js';

const FORMATS = { table: leaderboardText, md: leaderboardMarkdown, html: leaderboardHtml };

/** The leaderboard of every run in `inputs`, rendered in `format`. */
export function leaderboardCommand(inputs: string[], format: string): string {
  const render = FORMATS[format as keyof typeof FORMATS];
  if (!render) throw new UsageError(`--format '${format}' is not a leaderboard format`, `use one of ${Object.keys(FORMATS).join(', ')}`);
  return render(leaderboard(inputs.flatMap((path) => readResults(path))));
}
