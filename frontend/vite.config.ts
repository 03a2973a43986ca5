import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'

const server = 'http://127.0.0.1:8000'

export default defineConfig({
  base: '/',
  plugins: [vue()],
  build: {
    // The Python package serves these files; see src/labgate/web/.
    outDir: fileURLToPath(new URL('../src/labgate/web/static', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // Keep every asset a file: the server's CSP allows data: only for images and fonts.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    proxy: {
      // ws: true so later WebSocket endpoints (terminals) work through the dev server too.
      '/api': { target: server, ws: true },
      '/healthz': { target: server },
      // Plug-ins' front-end bundles.
      '/plugins': { target: server },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
    restoreMocks: true,
    unstubGlobals: true,
  },
})
