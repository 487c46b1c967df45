/**
 * Saving and loading tfjs models in Node without tfjs-node (which would bring a
 * file:// handler): a directory holds model.json and the weight files it names.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
// Registers robench's custom layers, so models written by `robench train` load like any other.
import '../models/hah-layers.js';
import './batch-norm-training.js';
import './lazy-conv2d.js';
import { writeFileAtomic } from './atomic.js';
import { RobenchError } from './errors.js';

const WEIGHTS_FILE = 'weights.bin';

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** The weight buffers as one byte array, in manifest order. */
function weightBytes(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const buffers = Array.isArray(data) ? data : [data];
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out;
}

/** sha256 (hex) of a model's weight bytes: the concatenation of its weight files in manifest order. */
export function sha256OfWeights(data: tf.io.WeightData | Uint8Array): string {
  const bytes = data instanceof Uint8Array ? data : weightBytes(data);
  return createHash('sha256').update(bytes).digest('hex');
}

/** An IOHandler that writes model.json and weights.bin into `dir`, each atomically. */
export function directorySaver(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new RobenchError('saving binary model topologies is not supported', 'save a LayersModel or GraphModel in JSON form');
      }
      const weights = weightBytes(artifacts.weightData);
      const modelJson: Record<string, unknown> = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig !== undefined) modelJson.trainingConfig = artifacts.trainingConfig;
      // Weights first: a model.json never names a weights file that is not there yet.
      await writeFileAtomic(join(dir, WEIGHTS_FILE), weights);
      await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

/** Saves a LayersModel to `dir` (model.json + weights.bin); returns the weights' sha256. */
export async function saveLayersModelTo(model: tf.LayersModel, dir: string): Promise<string> {
  let sha = '';
  const saver = directorySaver(dir);
  await model.save({
    save: async (artifacts) => {
      sha = sha256OfWeights(artifacts.weightData ?? new Uint8Array(0));
      return saver.save!(artifacts);
    },
  });
  return sha;
}

/** `path` names a directory holding model.json or the model.json file itself. */
async function modelJsonPath(path: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new RobenchError(`no model at ${path}`, 'pass a model.json file, a directory holding one, or an http(s) URL');
  }
  return info.isDirectory() ? join(path, 'model.json') : path;
}

/** Reads model.json and its weight files from disk into ModelArtifacts. */
async function readArtifacts(path: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = await modelJsonPath(path);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (err) {
    throw new RobenchError(
      `cannot read the model file ${jsonPath}: ${err instanceof Error ? err.message : String(err)}`,
      'pass the model.json written by tf.LayersModel.save or tensorflowjs_converter',
    );
  }
  if (json.modelTopology === undefined) {
    throw new RobenchError(`${jsonPath} has no modelTopology`, 'pass a TensorFlow.js model.json (layers or graph model)');
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest ?? []) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const file = join(dirname(jsonPath), p);
      try {
        buffers.push(await readFile(file));
      } catch {
        throw new RobenchError(`the weights file ${file} named by ${jsonPath} is missing`, 'copy every file that model.json lists next to it');
      }
    }
  }
  const joined = weightBytes(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    trainingConfig: json.trainingConfig,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs: specs,
    weightData: joined.buffer as ArrayBuffer,
  };
}

const fromArtifacts = (artifacts: tf.io.ModelArtifacts): tf.io.IOHandler => ({ load: async () => artifacts });

/** Loads a LayersModel from a directory or model.json path. */
export async function loadLayersModelFrom(path: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fromArtifacts(await readArtifacts(path)));
}

const isGraph = (a: tf.io.ModelArtifacts): boolean =>
  a.format === 'graph-model' ||
  (a.format === undefined && typeof a.modelTopology === 'object' && a.modelTopology !== null && 'node' in a.modelTopology);

interface GraphNode {
  name: string;
  op: string;
}

/** Names of a graph model's Softmax nodes, in its main graph and its function library (control flow bodies). */
export function graphSoftmaxNodes(topology: unknown): string[] {
  const graph = topology as { node?: GraphNode[]; library?: { function?: { nodeDef?: GraphNode[] }[] } };
  const nodes = [...(graph.node ?? []), ...(graph.library?.function ?? []).flatMap((f) => f.nodeDef ?? [])];
  return nodes.filter((n) => n.op === 'Softmax').map((n) => n.name);
}

/** Loads a Layers or Graph model from a directory, a model.json path or an http(s) URL. */
export async function loadAnyModel(
  pathOrUrl: string,
): Promise<
  { kind: 'layers'; model: tf.LayersModel; weightsSha256: string } | { kind: 'graph'; model: tf.GraphModel; weightsSha256: string; softmaxNodes: string[] }
> {
  let artifacts: tf.io.ModelArtifacts;
  if (isUrl(pathOrUrl)) {
    try {
      artifacts = await tf.io.http(pathOrUrl).load!();
    } catch (err) {
      throw new RobenchError(
        `cannot download the model at ${pathOrUrl}: ${err instanceof Error ? err.message : String(err)}`,
        'check the URL points at a model.json whose weight files sit next to it',
      );
    }
  } else {
    artifacts = await readArtifacts(pathOrUrl);
  }
  const weightsSha256 = sha256OfWeights(artifacts.weightData ?? new Uint8Array(0));
  if (isGraph(artifacts)) {
    return { kind: 'graph', model: await tf.loadGraphModel(fromArtifacts(artifacts)), weightsSha256, softmaxNodes: graphSoftmaxNodes(artifacts.modelTopology) };
  }
  return { kind: 'layers', model: await tf.loadLayersModel(fromArtifacts(artifacts)), weightsSha256 };
}

/** sha256 of the weight files of the model saved in `dir` (or at a model.json path). */
export async function sha256OfModelDir(path: string): Promise<string> {
  return sha256OfWeights((await readArtifacts(path)).weightData ?? new Uint8Array(0));
}
