/**
 * The ops a GraphModel needs, checked against what tfjs can run, at load: tfjs maps a graph's
 * ops lazily and fails only when a node runs ("Unknown op" at the first batch, or mid-run for a
 * node the first batch does not reach, such as a control-flow body), and a backend may lack a
 * kernel another has (wasm has no Einsum, FFT, nor depthwise convolution's input gradient).
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../core/errors.js';
import { BACKEND_NAMES } from './backends.js';

interface MappedNode {
  name: string;
  op: string;
  /** The converter's op family; undefined where it has no implementation of the op. */
  category?: string;
}

interface MappedGraph {
  nodes?: Record<string, MappedNode>;
  /** Function bodies (control flow), each a graph of its own. */
  functions?: Record<string, MappedGraph>;
}

/** Every node of the model's graph and of its functions, as tfjs mapped them. */
function graphNodes(model: tf.GraphModel): MappedNode[] {
  const all = (g: MappedGraph | undefined): MappedNode[] => [...Object.values(g?.nodes ?? {}), ...Object.values(g?.functions ?? {}).flatMap(all)];
  return all((model as unknown as { executor?: { graph?: MappedGraph } }).executor?.graph);
}

/** "Einsum (node e1), FFT (nodes f1, f2)": each op once, with the first nodes that use it. */
function listOps(nodes: MappedNode[]): string {
  const byOp = new Map<string, string[]>();
  for (const n of nodes) byOp.set(n.op, [...(byOp.get(n.op) ?? []), n.name]);
  return [...byOp].map(([op, names]) => `${op} (node${names.length > 1 ? 's' : ''} ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`).join(', ');
}

const kernelsOf = (backend: string): Set<string> => new Set(tf.getKernelsForBackend(backend).map((k) => k.kernelName));

/** The robench backends whose kernels are known here, each with its kernel names. */
function knownBackends(): Map<string, Set<string>> {
  return new Map(BACKEND_NAMES.filter((b) => b !== 'auto' && b in tf.engine().registryFactory).map((b) => [b, kernelsOf(b)]));
}

/**
 * Refuses a graph model using ops tfjs has no implementation of, or whose kernel (of the same
 * name) `backend` lacks while another backend has it, naming them. Returns warnings for ops whose
 * input gradient kernel the backend lacks: a gradient attack would fail on them mid-run, a
 * gradient-free one runs.
 */
export function checkGraphOps(model: tf.GraphModel, id: string, backend = tf.getBackend()): string[] {
  const nodes = graphNodes(model);
  const unknown = nodes.filter((n) => n.category === undefined);
  if (unknown.length > 0) {
    throw new UsageError(
      `the model ${id} uses ops tfjs cannot run: ${listOps(unknown)}`,
      'tfjs has no implementation of them on any backend: export the model without them, or register them with tf.registerOp before loading it',
    );
  }
  const backends = knownBackends();
  const here = backends.get(backend) ?? kernelsOf(backend);
  const elsewhere = (kernel: string): string[] => [...backends].filter(([b, kernels]) => b !== backend && kernels.has(kernel)).map(([b]) => b);
  const lacking = nodes.filter((n) => !here.has(n.op) && elsewhere(n.op).length > 0);
  if (lacking.length > 0) {
    const others = [...backends.keys()].filter((b) => b !== backend && lacking.every((n) => backends.get(b)!.has(n.op)));
    throw new UsageError(
      `the model ${id} uses ops the ${backend} backend lacks: ${listOps(lacking)}`,
      others.length > 0 ? `run it with --backend ${others.join(' or --backend ')}` : 'no backend here has them all: export the model without them',
    );
  }
  const noGradient = nodes.filter((n) => !here.has(`${n.op}BackpropInput`) && elsewhere(`${n.op}BackpropInput`).length > 0);
  if (noGradient.length === 0) return [];
  return [`the ${backend} backend lacks the input gradient of ${listOps(noGradient)}: gradient attacks on the model ${id} will fail; run them with --backend ${elsewhere(`${noGradient[0]!.op}BackpropInput`).join(' or --backend ')}`];
}
