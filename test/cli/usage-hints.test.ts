/** Issue 35's small usage messages: near misses suggested case-insensitively, and what to do instead. */
import test from 'ava';
import { resolveParams } from '../../src/core/parse.js';
import { UsageError } from '../../src/core/errors.js';
import corruption from '../../attacks/corruption.js';
import { createRegistry } from '../../src/core/registry.js';

test('--corruption foggy suggests fog, whatever the case, and keeps the param description', (t) => {
  for (const typed of ['foggy', 'FOGGY', 'Fog_']) {
    const err = t.throws(() => resolveParams(corruption, { corruption: typed }), { instanceOf: UsageError });
    t.regex(err!.hint ?? '', /^did you mean 'fog'\? \(attack corruption: one corruption/, typed);
  }
  t.is(resolveParams(corruption, { corruption: 'FOG' }).corruption, 'fog');
});

test("--attack PGD suggests 'pgd': ids are compared in lower case (a case-sensitive distance picked 'fab')", async (t) => {
  const registry = await createRegistry();
  const err = t.throws(() => registry.get('attack', 'PGD'), { instanceOf: UsageError });
  t.regex(err!.message, /^unknown attack 'PGD'\. Did you mean 'pgd'\?$/);
});
