// Text helpers for error messages.

/** The last `lines` lines of a command's output (at most `chars` characters), for error messages. */
export function tail(text: string, lines = 15, chars = 2000): string {
  const t = text
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .join('\n')
    .replace(/^\s*\n/, '');
  return t.length > chars ? `…${t.slice(-chars)}` : t;
}
