/**
 * AutoAttack's members and versions (Croce & Hein 2020; fra31/auto-attack autoattack.py,
 * set_version), and the parsing of a custom cascade: `--attacks apgd-ce,apgd-t` names
 * AutoAttack members, and any registered attack joins with its own params as
 * `id:param=value:param=value` (e.g. `pgd:steps=50:loss=margin`).
 */
import { UsageError } from './errors.js';
import { camel, kebab, resolveParams } from './parse.js';
import type { AttackPlugin, Norm, Params } from './plugin-api.js';

export type Version = 'standard' | 'plus' | 'rand' | 'custom';

/** A member before resolution: a display name, the attack's registry id and the params it overrides. */
export interface MemberSpec {
  name: string;
  attack: string;
  overrides: Params;
}

export interface Member {
  name: string;
  attack: AttackPlugin;
  params: Params;
}

/** AutoAttack's attacks by their names in attacks_to_run, with its defaults (100 iterations, 1 restart, 9 targets, 5,000 queries). */
const NAMED: Record<string, Omit<MemberSpec, 'name'>> = {
  'apgd-ce': { attack: 'apgd', overrides: { loss: 'ce', steps: 100, restarts: 1 } },
  'apgd-dlr': { attack: 'apgd', overrides: { loss: 'dlr', steps: 100, restarts: 1 } },
  'apgd-t': { attack: 'apgd', overrides: { loss: 'dlr-targeted', steps: 100, restarts: 1, targets: 9 } },
  fab: { attack: 'fab', overrides: { steps: 100, restarts: 1 } },
  'fab-t': { attack: 'fab', overrides: { targeted: true, steps: 100, restarts: 1, targets: 9 } },
  square: { attack: 'square', overrides: { queries: 5000, 'p-init': 0.8 } },
};

const named = (name: string, extra: Params = {}): MemberSpec => ({ name, attack: NAMED[name]!.attack, overrides: { ...NAMED[name]!.overrides, ...extra } });

/** set_version: the cascade of each version, in order. */
export function versionMembers(version: Exclude<Version, 'custom'>): MemberSpec[] {
  switch (version) {
    case 'standard':
      return [named('apgd-ce'), named('apgd-t'), named('fab-t'), named('square')];
    case 'plus':
      return [named('apgd-ce', { restarts: 5 }), named('apgd-dlr', { restarts: 5 }), named('fab', { restarts: 5 }), named('square'), named('apgd-t'), named('fab-t')];
    case 'rand':
      return [named('apgd-ce', { eot: 20 }), named('apgd-dlr', { eot: 20 })];
  }
}

const HINT = 'e.g. --attacks apgd-ce,apgd-t or --attacks apgd-ce,pgd:steps=50:loss=margin (AutoAttack names: ' + Object.keys(NAMED).join(', ') + ')';

function literal(text: string): number | string | boolean {
  if (text === 'true' || text === 'false') return text === 'true';
  return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
}

/** `id:param=value:param=value`: how one flag names an attack with params (`--attacks` members, `robench train --adversarial-attack`). */
export function parseAttackWithParams(item: string, flag: string, hint: string): { id: string; overrides: Params } {
  const [id, ...pairs] = item.split(':');
  const overrides: Params = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag}: '${pair}' in '${item}' is not param=value`, hint);
    overrides[pair.slice(0, eq)] = literal(pair.slice(eq + 1));
  }
  return { id: id!, overrides };
}

/** `--attacks` of the custom version. */
export function parseMembers(text: string): MemberSpec[] {
  const items = text.split(',').map((s) => s.trim());
  if (text.trim() === '' || items.some((s) => s === '')) throw new UsageError(`--attacks '${text}' names no attack (or an empty one)`, HINT);
  const specs = items.map((item): MemberSpec => {
    const { id, overrides } = parseAttackWithParams(item, '--attacks', HINT);
    const base = NAMED[id];
    return base ? { name: item, attack: base.attack, overrides: { ...base.overrides, ...overrides } } : { name: item, attack: id, overrides };
  });
  const twice = specs.find((s, i) => specs.findIndex((t) => t.name === s.name) !== i);
  if (twice) throw new UsageError(`--attacks names '${twice.name}' twice`, 'a second identical run breaks nothing the first did not; give it other params');
  return specs;
}

/**
 * A member's attack and params: its defaults, the spec's overrides and the ensemble's norm,
 * checked against the attack's own specs and bounds. A param the attack lacks is an error,
 * never silently dropped (a FAB-T without `targeted` would be plain FAB).
 */
export function resolveMember(spec: MemberSpec, norm: Norm, eot: number | undefined, find: (id: string) => AttackPlugin): Member {
  let attack: AttackPlugin;
  try {
    attack = find(spec.attack);
  } catch (err) {
    throw new UsageError(`autoattack member '${spec.name}' needs the attack '${spec.attack}', which is not registered`, (err as UsageError).hint ?? HINT);
  }
  if (attack.members) throw new UsageError(`autoattack member '${spec.name}' is itself an ensemble`, 'list its members instead');
  const overrides: Params = { ...spec.overrides };
  if ('norm' in attack.params) overrides.norm = norm;
  if (eot !== undefined && 'eot' in attack.params) overrides.eot = eot;
  const unknown = Object.keys(overrides).filter((k) => !(k in attack.params));
  if (unknown.length > 0) {
    throw new UsageError(`autoattack member '${spec.name}': the attack '${attack.id}' has no param ${unknown.map((k) => `'${k}'`).join(', ')}`, `its params: ${Object.keys(attack.params).join(', ')}`);
  }
  const raw = Object.fromEntries(Object.entries(overrides).map(([k, v]) => [camel(kebab(k)), v]));
  const params = resolveParams(attack, raw, { label: `${attack.id} (autoattack member ${spec.name})` });
  const budget = attack.budget(params);
  if (budget !== norm) throw new UsageError(`autoattack member '${spec.name}' attacks in ${budget ?? 'no norm'}, the ensemble in ${norm}`, 'an ensemble is the worst case over one threat model: use norm-ball attacks of its norm');
  return { name: spec.name, attack, params };
}
