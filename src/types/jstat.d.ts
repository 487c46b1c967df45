/**
 * The part of jstat (which ships no types) robench uses: the regularized incomplete beta
 * function and the beta and normal quantiles, for randomized smoothing's bounds
 * (src/evaluation/smoothing.ts).
 */
declare module 'jstat' {
  interface JStat {
    /** I_x(a, b), the regularized incomplete beta function: the Beta(a, b) CDF at x. */
    ibeta(x: number, a: number, b: number): number;
    beta: { inv(p: number, a: number, b: number): number };
    normal: { inv(p: number, mean: number, std: number): number };
  }
  const jStat: JStat;
  export default jStat;
}
