/**
 * Text that marks commands with backticks, as labgate's help texts and messages do
 * ("e.g. `module load cuda`"), in pieces: what is between backticks is code, to be
 * shown as code rather than with the backticks.
 */
export function codeParts(text: string): { text: string; code: boolean }[] {
  return text
    .split(/(`[^`]+`)/)
    .filter((part) => part !== '')
    .map((part) => (/^`[^`]+`$/.test(part) ? { text: part.slice(1, -1), code: true } : { text: part, code: false }))
}
