// Vite config of the wxseal admin console. The built app is served by the gateway's admin listener
// under /console/ with a strict CSP (script-src 'self'; style-src 'self'), so the output must hold
// no inline script or style: no modulepreload polyfill, no inlined assets, one stylesheet.
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defaultClientConditions, defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const adminTarget = process.env['WXSEAL_ADMIN_URL'] ?? 'http://127.0.0.1:9090';

export default defineConfig({
  root,
  base: '/console/',
  plugins: [preact({ prerender: { enabled: false } })],
  // @wxseal/protocol/errors (the error catalogue the console explains codes with) from its
  // TypeScript source, like the tests run it, so a build never bundles a stale dist/.
  resolve: { conditions: ['wxseal-source', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2020',
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
  server: {
    proxy: {
      // The admin API refuses state-changing calls whose Origin is not its own: present the
      // target's origin so dev mode (http://localhost:5173) behaves like the real same-origin page.
      '/admin': {
        target: adminTarget,
        changeOrigin: true,
        configure(proxy) {
          proxy.on('proxyReq', (req) => {
            if (req.getHeader('origin')) req.setHeader('origin', new URL(adminTarget).origin);
          });
        },
      },
    },
  },
  preview: {
    proxy: {
      '/admin': {
        target: adminTarget,
        changeOrigin: true,
        configure(proxy) {
          proxy.on('proxyReq', (req) => {
            if (req.getHeader('origin')) req.setHeader('origin', new URL(adminTarget).origin);
          });
        },
      },
    },
  },
});
