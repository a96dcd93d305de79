// `npm start`: the whole network on embedded defaults. Each role is a component that starts, reports a status
// row and stops on Ctrl-C; a role that does not exist yet says so instead of pretending.
import { type Config, ConfigError } from '@cocoon/shared';
import { loadProcessConfig } from '@cocoon/shared/config-file';

export interface StatusRow {
  component: string;
  state: 'running' | 'ready' | 'off' | 'not built yet';
  detail: string;
}

export interface Component {
  name: string;
  start(config: Config): Promise<StatusRow>;
  stop?(): Promise<void>;
}

const pending = (name: string, issue: string): Component => ({
  name,
  start: async () => ({ component: name, state: 'not built yet', detail: `arrives with ${issue}` }),
});

export const components: Component[] = [
  pending('chain (TON sandbox + contracts)', 'the contracts issue'),
  pending('proxy', 'the proxy issue'),
  pending('worker (llama.cpp)', 'the worker issue'),
  pending('Mini App server', 'the Mini App issue'),
  {
    name: 'Telegram bot',
    start: async (config) =>
      config.BOT_TOKEN === undefined
        ? { component: 'Telegram bot', state: 'off', detail: 'set BOT_TOKEN (from @BotFather) to run it' }
        : { component: 'Telegram bot', state: 'not built yet', detail: 'arrives with the bot issue' },
  },
];

export function formatStatus(rows: StatusRow[]): string {
  const widths = [
    Math.max(...rows.map((r) => r.component.length), 9),
    Math.max(...rows.map((r) => r.state.length), 5),
  ] as const;
  const line = (a: string, b: string, c: string) => `  ${a.padEnd(widths[0])}  ${b.padEnd(widths[1])}  ${c}`;
  return [
    line('component', 'state', 'detail'),
    ...rows.map((r) => line(r.component, r.state, r.detail)),
  ].join('\n');
}

export async function start(config: Config): Promise<{ rows: StatusRow[]; stop(): Promise<void> }> {
  const started: Component[] = [];
  const rows: StatusRow[] = [];
  for (const component of components) {
    rows.push(await component.start(config));
    started.push(component);
  }
  return {
    rows,
    stop: async () => {
      for (const component of started.reverse()) await component.stop?.();
    },
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadProcessConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  console.log(`Cocoon: embedded network in ${config.COCOON_DATA_DIR} (TON ${config.TON_NETWORK})\n`);
  const network = await start(config);
  console.log(formatStatus(network.rows));
  const running = network.rows.some((row) => row.state === 'running');
  if (!running) {
    console.log('\nNothing long-running is built yet; exiting. See README.md for what each issue adds.');
    await network.stop();
    return;
  }
  const shutdown = async () => {
    console.log('\nStopping…');
    await network.stop();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
