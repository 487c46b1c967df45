/**
 * Saving and loading tfjs models in Node without tfjs-node (which would bring a
 * file:// handler): a directory holds model.json and the weight files it names.
 */
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
// Registers robench's custom layers, so models written by `robench train` load like any other.
import '../layers/index.js';
import { writeFileAtomic } from './atomic.js';
import { RobenchError, UsageError } from '../core/errors.js';
import { fetchModelFile } from './model-http.js';
import { readRegularFile } from './regular-file.js';

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

/** Larger than any model topology; a model.json beyond it is not one. */
const MAX_JSON_BYTES = 256 * 1024 * 1024;
/** A cap for weight groups whose size the manifest cannot give (string tensors). */
const MAX_WEIGHT_BYTES = 2 * 1024 * 1024 * 1024;
/** How long (ms) a model server may stay silent before the download is given up on. */
const DEFAULT_TIMEOUT_MS = 30_000;

const BYTES_PER_VALUE: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** The bytes a manifest group's files must hold together, or undefined when a string tensor makes it variable. */
export function manifestGroupBytes(weights: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const w of weights) {
    const size = BYTES_PER_VALUE[w.quantization?.dtype ?? w.dtype];
    if (size === undefined) return undefined;
    total += w.shape.reduce((a, b) => a * b, 1) * size;
  }
  return total;
}

/** Where a model's files come from: a folder on disk or an http(s) address. */
interface ModelFiles {
  /** model.json, as errors name it. */
  where: string;
  json(): Promise<Uint8Array>;
  /** A weights file named in the manifest, of `bytes` bytes when known, else at most `maxBytes`. */
  weights(path: string, bytes: number | undefined, maxBytes: number): Promise<Uint8Array>;
}

const FILES_HINT = 'copy every file that model.json lists next to it, unchanged';

async function localFiles(path: string): Promise<ModelFiles> {
  const jsonPath = await modelJsonPath(path);
  const folder = resolve(dirname(jsonPath));
  return {
    where: jsonPath,
    json: () => readRegularFile(jsonPath, { maxBytes: MAX_JSON_BYTES, what: 'the model file', hint: 'pass the model.json written by tf.LayersModel.save or tensorflowjs_converter' }),
    weights: async (p, bytes, maxBytes) => {
      const file = resolve(folder, p);
      if (isAbsolute(p) || !file.startsWith(folder + sep)) {
        throw new RobenchError(`${jsonPath} names the weights file "${p}", outside the model's folder ${folder}`, 'a model.json may only name weight files in its own folder');
      }
      if (!existsSync(file)) throw new RobenchError(`the weights file ${file} named by ${jsonPath} is missing`, FILES_HINT);
      // The name is inside the folder, but a symlink there may point anywhere: where it really is counts.
      const real = realpathSync(file);
      const realFolder = realpathSync(folder);
      if (!real.startsWith(realFolder + sep)) {
        throw new RobenchError(`the weights file ${file} named by ${jsonPath} is a link to ${real}, outside the model's folder ${folder}`, 'copy the weights file into the model\'s folder instead of linking to it');
      }
      return readRegularFile(file, { bytes, maxBytes, what: `the weights file`, hint: FILES_HINT });
    },
  };
}

function httpFiles(url: string, timeoutMs: number): ModelFiles {
  const base = new URL(url);
  return {
    where: url,
    json: () => fetchModelFile(url, { maxBytes: MAX_JSON_BYTES, timeoutMs, what: 'the model file' }),
    weights: (p, bytes, maxBytes) => {
      const at = new URL(p, base);
      // A signed URL's query string authorises its weight files too.
      if (at.search === '') at.search = base.search;
      if (at.origin !== base.origin) {
        throw new RobenchError(`${url} names the weights file "${p}" on another server (${at.origin})`, 'a model.json may only name weight files on its own server');
      }
      return fetchModelFile(at.href, { bytes, maxBytes, timeoutMs, what: 'the weights file' });
    },
  };
}

/**
 * tfjs keeps the last of two weights of one name, so a second entry (a zero-byte one, say) would
 * silently replace a kernel: a manifest naming a weight twice is refused, naming it.
 */
export function checkManifestNames(manifest: tf.io.WeightsManifestConfig, where: string): void {
  const seen = new Set<string>();
  for (const group of manifest) {
    for (const w of group.weights ?? []) {
      if (typeof w.name !== 'string' || w.name === '') throw new RobenchError(`${where} lists a weight without a name`, 'pass the model.json written by tf.LayersModel.save or tensorflowjs_converter');
      if (seen.has(w.name)) throw new RobenchError(`${where} lists the weight "${w.name}" twice: one entry would silently replace the other`, 'the manifest was edited or merged wrongly; export the model again');
      seen.add(w.name);
    }
  }
}

/** Layers (nested models' included) or graph nodes (functions' included) a model.json's topology describes. */
export function topologySize(topology: unknown): number {
  const t = topology as { node?: unknown[]; library?: { function?: { nodeDef?: unknown[] }[] }; config?: unknown; model_config?: unknown } | null;
  if (t === null || typeof t !== 'object') return 0;
  if (Array.isArray(t.node)) return t.node.length + (t.library?.function ?? []).reduce((n, f) => n + (Array.isArray(f?.nodeDef) ? f.nodeDef.length : 0), 0);
  const layersIn = (config: unknown, depth: number): number => {
    const layers = (config as { config?: { layers?: unknown[] } } | null)?.config?.layers;
    if (!Array.isArray(layers) || depth > 64) return 0;
    return layers.length + layers.reduce((n: number, l) => n + layersIn(l, depth + 1), 0);
  };
  return layersIn(t.model_config ?? t, 0);
}

/** Layers (a LayersModel) or graph nodes (a GraphModel) accepted: far above real networks, below tfjs's stack limits. */
export const MAX_MODEL_NODES = 20_000;

/**
 * What robench feeds a model, checked before its first forward pass so that a model it cannot run
 * fails with an error naming it rather than a raw tfjs one: one input, a batch of images (rank 4)
 * of the dataset's shape, and a graph of bounded size (a 100,000-layer model overflows the stack).
 */
export function checkModelInputs(model: tf.LayersModel | tf.GraphModel, id: string, imageShape: readonly number[], datasetId: string, maxNodes = MAX_MODEL_NODES): void {
  const inputs = model.inputs as { name: string; shape?: (number | null)[] }[];
  if (inputs.length !== 1) {
    throw new UsageError(
      `the model ${id} takes ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}), but robench feeds one: a batch of images`,
      'export a model with a single image input [batch, height, width, channels]',
    );
  }
  const shape = inputs[0]!.shape?.map((d) => (d === -1 ? null : d));
  if (shape && shape.length !== 4) {
    throw new UsageError(
      `the model ${id} takes inputs of shape [${shape.map((d) => d ?? '?')}] (rank ${shape.length}), but robench feeds ${datasetId} images as [batch, ${imageShape.join(', ')}]`,
      'export the model with an image input (put a Flatten or Reshape layer first if it works on flat vectors)',
    );
  }
  const nodes = model instanceof tf.LayersModel ? model.layers.length : Object.keys((model as unknown as { executor?: { graph?: { nodes?: object } } }).executor?.graph?.nodes ?? {}).length;
  if (nodes > maxNodes) {
    throw new UsageError(`the model ${id} has ${nodes} ${model instanceof tf.LayersModel ? 'layers' : 'graph nodes'}, more than the ${maxNodes} robench runs`, 'evaluate a smaller model; tfjs runs out of stack on graphs this deep');
  }
}

/**
 * The model's first forward pass, on one blank image: any failure (an op this backend lacks, a
 * shape the layers reject, a stack overflow) becomes an error naming the model and what it was fed.
 */
export function firstForward<T>(id: string, imageShape: readonly number[], run: () => T): T {
  try {
    return run();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new UsageError(
      `the model ${id} fails on its first batch (one image of shape [${imageShape.join(', ')}]): ${message.split('\n')[0]}`,
      /Unknown op|not (yet )?(registered|implemented)/i.test(message) ? 'the model uses an op tfjs cannot run on this backend: try --backend cpu, or export the model without it' : 'check that the model takes images of this dataset (--dataset) and that it loads in TensorFlow.js',
    );
  }
}

/** Reads model.json and its weight files into ModelArtifacts, each file checked against the manifest before it is used. */
async function readArtifacts(files: ModelFiles): Promise<tf.io.ModelArtifacts> {
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(Buffer.from(await files.json()).toString('utf8')) as tf.io.ModelJSON;
  } catch (err) {
    if (err instanceof RobenchError) throw err;
    throw new RobenchError(
      `cannot read the model file ${files.where}: ${err instanceof Error ? err.message : String(err)}`,
      'pass the model.json written by tf.LayersModel.save or tensorflowjs_converter',
    );
  }
  if (json.modelTopology === undefined) {
    throw new RobenchError(`${files.where} has no modelTopology`, 'pass a TensorFlow.js model.json (layers or graph model)');
  }
  checkManifestNames(json.weightsManifest ?? [], files.where);
  // Counted in the JSON, before tfjs builds anything: a model of a million layers takes minutes and
  // gigabytes to deserialize before any check on the built model could refuse it.
  const nodes = topologySize(json.modelTopology);
  if (nodes > MAX_MODEL_NODES) {
    throw new RobenchError(`${files.where} describes ${nodes} layers or graph nodes, more than the ${MAX_MODEL_NODES} robench runs`, 'evaluate a smaller model; tfjs runs out of stack on graphs this deep');
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest ?? []) {
    specs.push(...group.weights);
    const expected = manifestGroupBytes(group.weights);
    // The manifest gives a group's total, not how it is split into files.
    const single = group.paths.length === 1 ? expected : undefined;
    const parts: Uint8Array[] = [];
    for (const p of group.paths) parts.push(await files.weights(p, single, expected ?? MAX_WEIGHT_BYTES));
    const got = parts.reduce((n, b) => n + b.length, 0);
    if (expected !== undefined && got !== expected) {
      throw new RobenchError(
        `the weights files ${group.paths.join(', ')} of ${files.where} hold ${got} bytes where the manifest's ${group.weights.length} tensors need ${expected}`,
        FILES_HINT,
      );
    }
    buffers.push(...parts);
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
  return tf.loadLayersModel(localModelHandler(path));
}

/** An IOHandler reading a model.json (or its folder) from disk, with the checks of every robench model load. */
export function localModelHandler(path: string): tf.io.IOHandler {
  return { load: async () => readArtifacts(await localFiles(path)) };
}

let fileRouterRegistered = false;

/**
 * Makes `tf.loadLayersModel('file://...')` and `tf.loadGraphModel('file://...')` work in plain
 * Node: tfjs only has a file:// handler with tfjs-node, which robench does not require.
 */
export function registerFileRouter(): void {
  if (fileRouterRegistered) return;
  fileRouterRegistered = true;
  // tfjs-node, once imported (--backend tensorflow), has a file:// router of its own, and tfjs
  // refuses a URL two routers claim; `asking` keeps the question of whether one does from recursing.
  let asking = false;
  const route = (url: string | string[]): tf.io.IOHandler | null => {
    if (asking || typeof url !== 'string' || !url.startsWith('file://')) return null;
    asking = true;
    try {
      if (tf.io.getLoadHandlers(url).length > 0) return null;
    } finally {
      asking = false;
    }
    return localModelHandler(fileURLToPath(url));
  };
  // tfjs's own routers return null for URLs they do not handle, though IORouter's type says otherwise.
  tf.io.registerLoadRouter(route as Parameters<typeof tf.io.registerLoadRouter>[0]);
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

export interface LoadOptions {
  /** Refuse URLs: nothing may be downloaded. */
  offline?: boolean;
  /** Silence from a server longer than this fails the download. */
  timeoutMs?: number;
}

/** Loads a Layers or Graph model from a directory, a model.json path or an http(s) URL. */
export async function loadAnyModel(
  pathOrUrl: string,
  opts: LoadOptions = {},
): Promise<
  { kind: 'layers'; model: tf.LayersModel; weightsSha256: string } | { kind: 'graph'; model: tf.GraphModel; weightsSha256: string; softmaxNodes: string[] }
> {
  if (isUrl(pathOrUrl) && opts.offline) {
    throw new UsageError(`--offline forbids downloading the model at ${pathOrUrl}`, 'download model.json and its weight files into a folder and pass that folder, or drop --offline');
  }
  const files = isUrl(pathOrUrl) ? httpFiles(pathOrUrl, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) : await localFiles(pathOrUrl);
  const artifacts = await readArtifacts(files);
  const weightsSha256 = sha256OfWeights(artifacts.weightData ?? new Uint8Array(0));
  if (isGraph(artifacts)) {
    return { kind: 'graph', model: await tf.loadGraphModel(fromArtifacts(artifacts)), weightsSha256, softmaxNodes: graphSoftmaxNodes(artifacts.modelTopology) };
  }
  return { kind: 'layers', model: await tf.loadLayersModel(fromArtifacts(artifacts)), weightsSha256 };
}

/** sha256 of the weight files of the model saved in `dir` (or at a model.json path). */
export async function sha256OfModelDir(path: string): Promise<string> {
  return sha256OfWeights((await readArtifacts(await localFiles(path))).weightData ?? new Uint8Array(0));
}
