import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  resolve: {
    // Keep Daily's SDK out of the bundle entirely, so no code path can reach its CDN.
    alias: { "@daily-co/daily-js": fileURLToPath(new URL("./src/no-daily.js", import.meta.url)) },
  },
  build: {
    // mermaid is big but loaded lazily, only to draw the phase diagram.
    chunkSizeWarningLimit: 3000,
  },
  server: {
    // `npm run dev` against a running `local-duel serve` on the default port.
    proxy: { "/api": "http://127.0.0.1:8000", "/ws": { target: "ws://127.0.0.1:8000", ws: true } },
  },
});
