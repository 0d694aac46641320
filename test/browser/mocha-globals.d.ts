// The mocha globals web-test-runner provides to browser tests (only what our tests use).
interface MochaContext { timeout: (ms: number) => void }
declare function describe (name: string, fn: (this: MochaContext) => void): void
declare function it (name: string, fn: (this: MochaContext) => Promise<void> | void): void
declare function before (fn: (this: MochaContext) => Promise<void> | void): void
declare function after (fn: (this: MochaContext) => Promise<void> | void): void
declare function beforeEach (fn: (this: MochaContext) => Promise<void> | void): void
declare function afterEach (fn: (this: MochaContext) => Promise<void> | void): void
