// The engine thread's entry: worker threads do not inherit the main thread's tsx hooks, so this
// plain-JS file registers tsx and then loads the TypeScript worker (see native-worker.ts).
import { register } from 'tsx/esm/api';

register();
await import('./native-worker.ts');
