import test from 'ava';
import { renderHtmlReport } from '../../src/report/html-report.js';
import { corruptionRun, fifteen } from '../helpers/run-results.js';


/** The rows of the corruption table under the heading that names `model`, as lists of cell texts. */
function rowsOf(html: string, model: string): string[][] {
  const section = /<section id="corruptions">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
  const block = section.split('<h3>').find((b) => b.startsWith(model)) ?? '';
  return [...block.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<t[hd]>([\s\S]*?)<\/t[hd]>/g)].map((c) => c[1].replace(/<[^>]+>/g, '')));
}

test('report.html has the per-corruption, per-severity error table with CE and mCE against the baseline', async (t) => {
  const base = corruptionRun('baseline', fifteen(() => [0.2, 0.4]));
  const model = corruptionRun('hebbian', fifteen((c) => (c === 0 ? [0.1, 0.2] : [0.3, 0.3])));
  const html = await renderHtmlReport([base, model]);
  const rows = rowsOf(html, 'hebbian');
  t.deepEqual(rows[0], ['corruption', 'severity 1', 'severity 2', 'mean', 'CE']);
  t.is(rows.length, 1 + 15 + 1, 'a header, a row per benchmark corruption, the means');
  // Each error with Wilson's 95% interval over the 100 images of each corruption and severity.
  t.deepEqual(rows[1], ['gaussian_noise', '10.0% (5.5–17.4)', '20.0% (13.3–28.9)', '15.0%', '50.0%']);
  t.deepEqual(rows[2], ['shot_noise', '30.0% (21.9–39.6)', '30.0% (21.9–39.6)', '30.0%', '100.0%']);
  t.deepEqual(rows[16], ['mean (mCE vs baseline)', '28.7%', '29.3%', '29.0%', '96.7%']);
  t.deepEqual(rowsOf(html, 'baseline').at(-1), ['mean (mCE vs baseline)', '20.0%', '40.0%', '30.0%', '100.0%']);
});

test('without the baseline model the table has errors and no CE; other attacks have no corruption section', async (t) => {
  const single = await renderHtmlReport([corruptionRun('hebbian', [[0.25, 0.5]], {}, 'glass_blur')]);
  t.deepEqual(rowsOf(single, 'hebbian'), [['corruption', 'severity 1', 'severity 2', 'mean'], ['glass_blur', '25.0% (17.5–34.3)', '50.0% (40.4–59.6)', '37.5%'], ['mean', '25.0%', '50.0%', '37.5%']]);
  const pgd = corruptionRun('hebbian', [[0.25, 0.5]], {}, 'glass_blur');
  pgd.attack = { id: 'pgd', params: {}, budget: 'linf', perturbation: 'eps' };
  t.notRegex(await renderHtmlReport([pgd]), /id="corruptions"/);
});
