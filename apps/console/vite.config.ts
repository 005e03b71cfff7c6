// Builds the operator console into dist/ (`npm run build:console`); ingest serves it
// under /console. `npm run dev -w @commstrat/console` serves the sources with reload and
// sends /console/api to an ingest on 127.0.0.1:8080 (`npm start`).
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  // JSX for Preact, compiled by Vite's own transformer: no Babel, no plugin.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 300 },
  server: { proxy: { '/console/api': 'http://127.0.0.1:8080' } },
});
