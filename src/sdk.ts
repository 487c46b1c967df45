/**
 * `robench/sdk`: everything robench's own attacks, datasets and reporters are written with, so
 * that any of them could be written outside the repository. The built-ins in attacks/, datasets/
 * and reports/ import robench through this entry only (test/layering.test.ts holds them to it).
 * It is lighter than `robench`: no benchmark(), no zoo, nothing a plugin file does not need
 * when the registry loads it (also in every worker thread).
 *
 * Example (an attack plugin):
 *   import * as tf from '@tensorflow/tfjs';
 *   import { defineAttack, defaultEpsGrid, projectLinf } from 'robench/sdk';
 *   export default defineAttack({
 *     id: 'lighten', description: 'adds eps to every pixel', params: {},
 *     budget: () => 'linf', defaultGrid: (dataset) => defaultEpsGrid(dataset, 'linf'),
 *     run: async (ctx) => tf.tidy(() => projectLinf(ctx.x, tf.clipByValue(tf.add(ctx.x, ctx.eps), 0, 1) as tf.Tensor4D, ctx.eps)),
 *   });
 */

// The plugin API: the four kinds, their contexts, and what a run records.
export * from './core/plugin-api.js';
export { RobenchError, UsageError } from './core/errors.js';
// A param as the user gave it, for an attack's check: givenAs({ source: 'flag' }, 'loss', 'kl') is `--loss kl`.
export { givenAs, type Origin } from './core/settings.js';

// Attack maths: norms, projections and clipping; losses and ranked targets; the per-sample worst
// case with early stopping; FAB's projection onto a hyperplane within the box.
export * from './core/norms.js';
export * from './core/losses.js';
export { Remaining, WorstCase } from './core/worst-case.js';
export { projectOntoBoxHyperplane } from './core/box-hyperplane.js';

// Running another attack from inside one (AutoAttack's members, transfer's inner attack): a
// context on any model, the engine's guarded call and its checks of a returned batch, the
// registry that finds attacks and models by id, and AutoAttack's cascades.
export { makeAttackContext, type AttackContextOptions, type EvaluationCounters } from './core/attack-context.js';
export { BUDGET_TOLERANCE, budgetLimit, checkAttackOutput, runAttack } from './core/attack-checks.js';
export { createRegistry, type Registry } from './core/registry.js';
export { parseMembers, resolveMember, versionMembers, type Member, type MemberSpec, type Version } from './core/ensemble.js';

// Image operations the corruptions are built from (ImageNet-C's, in [0, 1] pixels).
export * from './image/image-ops.js';
export { canny } from './image/canny.js';
export { frostPhotos } from './image/frost-images.js';
export { libjpegRoundTrip, quantTable } from './image/libjpeg-roundtrip.js';

// Datasets: the idx (MNIST, Fashion-MNIST), CIFAR and SVHN loaders, and the files they fetch.
export { CIFAR_SHAPE, loadCifarSplit } from './data/cifar-loader.js';
export { IDX_SHAPE, loadIdxSplit } from './data/idx-loader.js';
export { SVHN_SHAPE, loadSvhnSplit } from './data/svhn-loader.js';
export { CIFAR10, FASHION_MNIST, MANIFESTS, MNIST, SVHN, type DataFile, type DatasetManifest } from './data/manifests.js';

// Reporters: atomic writes, intervals and per-sample outcomes, and the pieces of robench's reports.
// The corruption tables read the names of a corruption run's batches from attacks/corruption.ts,
// which imports this entry: they come after everything that plugin uses as it loads, so the
// two load in either order.
export { writeFileAtomic } from './runtime/atomic.js';
export * from './core/intervals.js';
export { perImage } from './core/samples.js';
export { resultsJson } from './report/results-json.js';
export { withCorruptionErrors, type CorruptionErrors } from './analysis/corruption-errors.js';
export { corruptionCsvRows, corruptionTables } from './report/corruption-report.js';
export { runLabels, type RunLabel } from './report/run-labels.js';
export { csvRow } from './report/safe-text.js';
export { attackGroups, type AttackGroup } from './report/attack-groups.js';
export { compareModels, type Accuracy, type ComparisonRow } from './analysis/model-comparison.js';
export { formatAccuracy, formatDifference, formatPerturbation } from './report/report-format.js';
export { fitsWrapped, fitTable, terminalColumns } from './report/terminal-table.js';
export { memberBreakdownLines } from './report/member-breakdown.js';

/** report.html's renderer; it loads Vega and Vega-Lite (about a second), so only when a reporter draws. */
export const loadHtmlReport = () => import('./report/html-report.js');
/** The SVG charts and their PNG rasterisation, loaded on demand for the same reason. */
export const loadCharts = () => import('./report/charts.js');
