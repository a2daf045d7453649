// Types the bindings that `cloudflare:test` exposes as `env`.
import type { Env as HubEnv } from '../../worker/env.js';

declare global {
  namespace Cloudflare {
    interface Env extends HubEnv {
      TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
    }
  }
}
