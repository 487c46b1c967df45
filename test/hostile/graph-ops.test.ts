/**
 * Hostile input, model files: a graph model (model.json of format graph-model) using ops tfjs
 * cannot run is refused at load with the ops named (src/runtime/graph-ops.ts), not at the first
 * node the first batch happens to reach, nor mid-run at one it does not.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../src/core/errors.js';
import type { DatasetPlugin } from '../../src/core/plugin-api.js';
import { loadAnyModel } from '../../src/runtime/model-io.js';
import { checkGraphOps } from '../../src/runtime/graph-ops.js';
import { loadUserModel } from '../../src/evaluation/user-model.js';
import '../helpers/backend.js';
// Registers the wasm backend's kernels, which the checks compare against.
import '../../src/runtime/backends.js';

const toy = { id: 'toy', imageShape: [2, 2, 1] } as unknown as DatasetPlugin;
const dim = (sizes: number[]) => ({ dim: sizes.map((size) => ({ size: String(size) })) });

type Node = { name: string; op: string; input?: string[]; attr?: Record<string, unknown> };

/**
 * A graph model x [?, 2, 2, 1] -> Reshape [?, 4] -> MatMul by a [4, 3] weight -> `tail` nodes,
 * each applied to the one before; `functions` adds a function library (control-flow bodies).
 */
function graphModel(tail: Omit<Node, 'input'>[], functions: { name: string; nodes: Node[] }[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'robench-hostile-graph-'));
  mkdirSync(dir, { recursive: true });
  const float = { T: { type: 'DT_FLOAT' } };
  const node: Node[] = [
    { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dim([-1, 2, 2, 1]) } } },
    { name: 'shape', op: 'Const', attr: { dtype: { type: 'DT_INT32' }, value: { tensor: { dtype: 'DT_INT32', tensorShape: dim([2]) } } } },
    { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dim([4, 3]) } } } },
    { name: 'flat', op: 'Reshape', input: ['x', 'shape'], attr: float },
    { name: 'logits', op: 'MatMul', input: ['flat', 'w'], attr: { ...float, transpose_a: { b: false }, transpose_b: { b: false } } },
  ];
  for (const n of tail) node.push({ attr: float, ...n, input: [node[node.length - 1]!.name] });
  const library = { function: functions.map((f) => ({ signature: { name: f.name, inputArg: [], outputArg: [] }, nodeDef: f.nodes, ret: {} })) };
  const json = {
    format: 'graph-model',
    modelTopology: { node, library, versions: { producer: 1 } },
    weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'shape', shape: [2], dtype: 'int32' }, { name: 'w', shape: [4, 3], dtype: 'float32' }] }],
  };
  writeFileSync(join(dir, 'weights.bin'), Buffer.concat([Buffer.from(new Int32Array([-1, 4]).buffer), Buffer.from(new Float32Array(12).fill(0.1).buffer)]));
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  return join(dir, 'model.json');
}

test('a graph model that runs loads, and its logits are computed', async (t) => {
  const model = await loadUserModel(graphModel([{ name: 'relu', op: 'Relu' }]), toy, [0, 1]);
  t.is(model.numClasses, 3);
  model.dispose();
});

test('ops tfjs has no implementation of are all named at load, not the first one at the first batch', async (t) => {
  const file = graphModel([{ name: 'fancy', op: 'FancyOp' }, { name: 'relu', op: 'Relu' }, { name: 'other', op: 'OtherOp' }, { name: 'fancy2', op: 'FancyOp' }]);
  const err = await t.throwsAsync(loadUserModel(file, toy, [0, 1]), { instanceOf: UsageError });
  t.regex(err!.message, /the model .*model\.json uses ops tfjs cannot run: FancyOp \(nodes fancy, fancy2\), OtherOp \(node other\)/);
  t.regex(err!.hint ?? '', /tf\.registerOp/);
});

test('an unknown op in a function body, which the first batch never reaches, is refused at load', async (t) => {
  const file = graphModel([{ name: 'relu', op: 'Relu' }], [{ name: 'branch', nodes: [{ name: 'inner', op: 'FancyOp' }] }]);
  await t.throwsAsync(loadUserModel(file, toy, [0, 1]), { instanceOf: UsageError, message: /uses ops tfjs cannot run: FancyOp \(node inner\)/ });
});

test('ops whose kernel the backend lacks are named with a backend that has them; a missing input gradient is a warning', async (t) => {
  const einsum = await loadAnyModel(graphModel([{ name: 'square', op: 'Einsum', attr: { equation: { s: Buffer.from('ij,ij->ij').toString('base64') }, N: { i: '2' }, T: { type: 'DT_FLOAT' } } }]));
  const err = t.throws(() => checkGraphOps(einsum.model as tf.GraphModel, 'einsum.json', 'wasm'), { instanceOf: UsageError });
  t.regex(err!.message, /the model einsum\.json uses ops the wasm backend lacks: Einsum \(node square\)/);
  t.regex(err!.hint ?? '', /--backend cpu/);
  t.deepEqual(checkGraphOps(einsum.model as tf.GraphModel, 'einsum.json', 'cpu'), []);
  einsum.model.dispose();
  const depthwise = await loadAnyModel(graphModel([{ name: 'dw', op: 'DepthwiseConv2dNative' }]));
  const [warning, ...rest] = checkGraphOps(depthwise.model as tf.GraphModel, 'dw.json', 'wasm');
  t.regex(warning ?? '', /the wasm backend lacks the input gradient of DepthwiseConv2dNative \(node dw\): gradient attacks on the model dw\.json will fail; run them with --backend cpu/);
  t.deepEqual(rest, []);
  depthwise.model.dispose();
});
