/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Dev mode only: the bot token the mock environment signs initData with (the dev API server's). */
  readonly VITE_DEV_BOT_TOKEN?: string;
}
