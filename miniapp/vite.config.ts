import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** `npm run dev` proxies `/api` and the TonConnect manifest to a local app server (`npm run dev:api`). */
const apiTarget = process.env.COCOON_APP_API ?? 'http://127.0.0.1:8490';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 2048,
    // Modules run in import order across chunks, so src/polyfills.ts sets Buffer before @ton/core loads.
    rolldownOptions: { output: { strictExecutionOrder: true } },
  },
  server: {
    proxy: { '/api': apiTarget, '/tonconnect-manifest.json': apiTarget },
  },
});
