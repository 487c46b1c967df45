/**
 * The model entries: the files directly in models/, each a plugin the registry loads. Listed from
 * the folder, not by hand, so a new entry is held to every check that walks them (its weights
 * against its manifest, its exports) without anyone adding it to a list.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';

/** The entries' file names, e.g. 'hebbian.ts'. */
export const modelEntryFiles = (): string[] => readdirSync(join(packageRoot, 'models')).filter((f) => f.endsWith('.ts'));

/** The entries' ids, each its file's name. */
export const modelEntryIds = (): string[] => modelEntryFiles().map((f) => f.replace(/\.ts$/, ''));
