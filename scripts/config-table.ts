// Prints the README's configuration table from the one list of environment variables.
import { defaultConfig, ENV_VARIABLES } from '../src/config.ts';

const defaults = defaultConfig('./data') as unknown as Record<string, unknown>;
const valueAt = (dotted: string): unknown =>
  dotted
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], defaults);

console.log('| variable | default | meaning |\n|---|---|---|');
for (const variable of ENV_VARIABLES) {
  const value = valueAt(variable.path);
  const shown = Array.isArray(value) ? value.join(',') : String(value ?? '');
  const description = variable.description.replaceAll('|', '\\|');
  console.log(`| \`${variable.name}\` | ${shown === '' ? '—' : `\`${shown}\``} | ${description} |`);
}
