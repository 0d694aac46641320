// Loaded with --import before every Node test file: the same polyfills the CLI installs.
await import('../src/platform/polyfills.node.ts')
