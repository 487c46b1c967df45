/**
 * Text bound for a terminal with its control characters shown escaped: C0 controls (ESC, BEL,
 * backspace, carriage return, NUL...), DEL, C1 controls (0x80-0x9f, CSI among them) and the
 * bidirectional overrides that reorder what is shown. An id holding "\x1b[2J" would clear the
 * screen or retitle the window; printed as the escape it is, it is only text. Newlines are
 * escaped too (an id is one line); `keepNewlines` keeps newlines and tabs of multi-line text.
 * In src/core so that errors (src/core/errors.ts) can use it; src/report/safe-text.ts re-exports it.
 */
export function terminalText(text: string, keepNewlines = false): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (keepNewlines && (c === '\n' || c === '\t')) return c;
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
