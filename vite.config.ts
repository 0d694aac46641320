import { defineConfig } from 'vite'

// The demo page: index.html + demo/. Sources are resolved through the package's
// `agentmesh-source` condition, so the page runs the TypeScript in src/ directly.
export default defineConfig({
  root: '.',
  resolve: { conditions: ['agentmesh-source', 'browser', 'module', 'import', 'default'] },
  define: { 'process.env.NODE_DEBUG': 'undefined' },
  build: { outDir: 'dist/demo', target: 'es2022', emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' }
})
