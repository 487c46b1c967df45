/** Text of sparsity figures, apart from src/analysis/sparsity.ts so the HTML report loads no tfjs. */

/**
 * The top-K disparity, top-K mean / rest mean; a zero rest mean gives 'inf', or '-' when the
 * top-K mean is zero too. A ratio of means measures disparity only for activations that are never
 * negative (ReLU): a negative rest mean (tanh, similarity matching) gives '-'.
 */
export function disparity(top: number, rest: number): string {
  if (rest > 0) return (top / rest).toFixed(1);
  return rest === 0 && top > 0 ? 'inf' : '-';
}
