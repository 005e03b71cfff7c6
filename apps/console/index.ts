import { fileURLToPath } from 'node:url';

/**
 * Where the built page is: `index.html` and `assets/`, written by `npm run build:console`
 * (Vite, from src/). Ingest serves it under /console; nothing else of this workspace
 * runs on a server.
 */
export const consoleAssetsDir: string = fileURLToPath(new URL('./dist/', import.meta.url));
