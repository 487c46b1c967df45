/**
 * `import { pgd, apgd, autoattack, fab } from 'robench/attacks'`: the built-in attacks as plugin
 * objects, each typed with its own params, for attack() and benchmark() (a plugin object is
 * looked up by id, so it runs exactly as the id would, with the registry's added `eot`).
 * An entry of its own, not part of 'robench': the library's core imports no plugin folder.
 *
 * Example:
 *   import { attack } from 'robench';
 *   import { pgd } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', x, y, attack: pgd, eps: 8 / 255, params: { steps: 40, 'random-start': true } });
 */
export { default as apgd } from '../attacks/apgd.js';
export { default as autoattack } from '../attacks/autoattack.js';
export { default as corruption } from '../attacks/corruption.js';
export { default as fab } from '../attacks/fab.js';
export { default as fgsm } from '../attacks/fgsm.js';
export { default as fmn } from '../attacks/fmn.js';
export { default as gaussian } from '../attacks/gaussian.js';
export { default as pgd } from '../attacks/pgd.js';
export { default as square } from '../attacks/square.js';
export { default as transfer } from '../attacks/transfer.js';
