// harness.mjs: one integration test = servers + VMs that are always cleaned
// up, and whose logs come with the failure when the test fails.
//
//   itest('name', async (ctx) => {
//       const srv = await ctx.server({ throttleMs: 10000 });
//       const { accountId, key } = await srv.account();
//       const { id, vm } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
//       ...
//   });
//
// Everything ctx starts is stopped in reverse order after the test, passed
// or failed. A daemon that did not exit 0 on SIGTERM (a crash, an ASan
// report) fails the test. On failure the error carries the tail of each
// daemon's stderr and each guest's debug console.
import { test } from 'node:test';
import { startServer } from './server.mjs';
import { startVm } from './vm.mjs';

// A test gets this long (the ASan build is slower); past it, it fails and
// its servers and VMs are still cleaned up (node:test's own timeout would
// leave them running and the file's process alive).
const TEST_TIMEOUT_MS = 120000;

export function itest(name, opts, fn) {
    if (typeof opts === 'function') { fn = opts; opts = {}; }
    const timeoutMs = opts.timeout ?? TEST_TIMEOUT_MS;
    return test(name, { skip: opts.skip, todo: opts.todo }, async (t) => {
        const cleanups = [];
        const servers = [];
        const vms = [];
        // Rejects when a daemon dies under the test (a crash, a sanitizer
        // report) or the test runs out of time: the test then fails at once
        // instead of waiting on a peer that will never answer.
        let abort;
        const aborted = new Promise((_, reject) => { abort = reject; });
        aborted.catch(() => {});
        const timer = setTimeout(() => abort(new Error(`test timed out after ${timeoutMs} ms`)), timeoutMs);
        const ctx = {
            t,
            async server(o = {}) {
                const s = await startServer(o);
                servers.push(s);
                let stopping = false;
                cleanups.push(() => { stopping = true; return s.stop(); });
                s.exited.then(({ code, signal }) => {
                    if (!stopping) abort(new Error(`ecshotd exited during the test (code ${code}, signal ${signal})`));
                });
                return s;
            },
            async vm(o = {}) {
                const v = await startVm(o);
                vms.push(v);
                cleanups.push(() => v.stop());
                return v;
            },
            // A VM registered as an instance of accountId; returns {id, vm}.
            async instanceVm(srv, accountId, { mode = 'text', paused = false, ...inst } = {}) {
                const vm = await ctx.vm({ mode, paused });
                const id = await srv.instance({ account: accountId, console: vm.consoleUrl, ...inst });
                return { id, vm };
            },
            defer(f) { cleanups.push(f); },
        };
        let failure = null;
        try {
            await Promise.race([fn(ctx), aborted]);
        } catch (e) {
            failure = e;
        } finally {
            clearTimeout(timer);
        }
        const cleanupErrors = [];
        for (const c of cleanups.reverse()) {
            try { await c(); } catch (e) { cleanupErrors.push(e); }
        }
        if (failure) {
            let extra = '';
            for (const s of servers)
                extra += `\n--- ecshotd :${s.port} stderr (tail) ---\n${s.stderr().slice(-6000)}`;
            for (const v of vms)
                if (v.console?.length) extra += `\n--- guest (${v.mode}) console ---\n${v.console.join('\n')}`;
            for (const e of cleanupErrors) extra += `\n--- cleanup error ---\n${e.message}`;
            if (extra) {
                try { failure.message += extra; } catch { /* frozen message */ }
            }
            throw failure;
        }
        if (cleanupErrors.length) throw cleanupErrors[0];
    });
}
