/** What every chart shares: fonts, background, and a colour per model that holds across charts. */

/** Fonts present on Debian and macOS first, so the browser and resvg measure text alike. */
const FONT = 'DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif';

// The legend takes its symbols from the pale band; full opacity keeps them legible.
export const baseConfig = { font: FONT, background: 'white', view: { stroke: '#ddd' }, legend: { symbolOpacity: 1 } } as const;

/** A model keeps its colour across charts when every chart gets the same colour domain. */
export const colorEncoding = (domain?: string[]) =>
  ({ field: 'series', type: 'nominal', title: 'model', scale: domain ? { domain } : {}, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 400 } }) as const;
