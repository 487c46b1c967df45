/** defineAttack's params type follows its declarations: tsc checks the cases in test/fixtures/settings/define-attack-types.ts. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { root } from '../helpers/cli.js';

test('defineAttack infers params from declarations and checks an explicit params type against them', async (t) => {
  const tsc = join(dirname(createRequire(join(root, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
  const flags = ['--ignoreConfig', '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--types', 'node', '--lib', 'es2022,dom'];
  const result = await new Promise<{ code: number; out: string }>((done) =>
    execFile(process.execPath, [tsc, ...flags, join(root, 'test/fixtures/settings/define-attack-types.ts')], { cwd: root }, (err, stdout, stderr) =>
      done({ code: err ? 1 : 0, out: stdout + stderr }),
    ),
  );
  t.is(result.code, 0, result.out);
});
