import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (the folder holding package.json). Assets such as bundled data
 * and weights stay in the source folders, so code compiled into dist/ and code run
 * from source both find them here.
 */
export const packageRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('robench: cannot find its package.json');
    dir = up;
  }
  return dir;
})();

/** Whether robench runs from its TypeScript sources (a clone, through tsx) rather than from dist/. */
export const fromSource: boolean = import.meta.url.endsWith('.ts');

export const assetPath = (...parts: string[]): string => join(packageRoot, ...parts);

/** The version in robench's package.json, recorded in every result. */
export const robenchVersion: string = (JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string }).version;
