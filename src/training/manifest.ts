/** What every trainer's manifest.json records, whatever the learning rule: what was trained, how, on what, and how well it scores. */
export interface TrainingManifest {
  model: string;
  dataset: string;
  /** The command line that trains the same weights again. */
  command: string;
  seed: number;
  batch: number;
  schedule: string;
  trainSamples: number;
  backend: string;
  tfjsVersion: string;
  wallSeconds: number;
  testAccuracy: number;
  testSamples: number;
  weightsSha256: string;
  trainedAt: string;
}
