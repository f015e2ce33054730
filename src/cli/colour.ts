import { needsHuman } from '../core/types.ts';

/**
 * Colour for people at a terminal, never for pipes, files or anyone who set NO_COLOR (https://no-color.org).
 * FORCE_COLOR=1 turns it on where there is no terminal (CI logs); FORCE_COLOR=0 turns it off. NO_COLOR wins.
 */
export type Tone = 'ok' | 'warn' | 'bad' | 'busy' | 'dim';

const sgr: Record<Tone, string> = { ok: '32', warn: '33', bad: '31', busy: '36', dim: '2' };

export interface ColourStream {
  isTTY?: boolean;
}

export function colourEnabled(stream: ColourStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

/** `text` in the tone's colour when `stream` shows colour, else unchanged. */
export function paint(
  text: string,
  tone: Tone,
  stream: ColourStream,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return colourEnabled(stream, env) ? `\u001b[${sgr[tone]}m${text}\u001b[0m` : text;
}

/** The tone of a connection status as the CLI prints it (`refreshing` included, `expired` too). */
export function statusTone(status: string): Tone | undefined {
  if (needsHuman(status)) return 'bad';
  switch (status) {
    case 'active':
      return 'ok';
    case 'refreshing':
      return 'busy';
    case 'failing':
    case 'expired':
    case 'expiring_soon':
      return 'warn';
    default:
      return undefined;
  }
}

/** The CLI's one error line: `tokenkeeper: error: <message>`, with "error:" in red on a terminal. */
export function formatCliError(message: string, stream: ColourStream): string {
  return `tokenkeeper: ${paint('error:', 'bad', stream)} ${message}\n`;
}
