// Builds the console into web/dist, which the API process serves at / (src/http/console.ts).
// No CDN and no inline script: the page must load offline and under a strict CSP (script-src 'self').
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Written for debugging, not referenced from the scripts; served only with console.sourceMaps.
    sourcemap: 'hidden',
    // Keep the module-preload helper out of the HTML: an inline script would break the CSP.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run dev:web`: the API of a running `npm start`, same origin for the browser.
    proxy: { '/api': 'http://127.0.0.1:8080', '/webhooks': 'http://127.0.0.1:8080' },
  },
})
