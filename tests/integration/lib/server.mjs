// server.mjs: runs ecshotd and the ecshot CLI for the integration tests.
//
// startServer() starts a daemon on 127.0.0.1:0 in a fresh temporary
// directory, and learns the port from the one line the daemon prints once it
// listens (that line is the only synchronisation: no sleeps). The returned
// handle runs the operator CLI against the same store and stops the daemon,
// failing loudly when it did not exit cleanly (under AddressSanitizer a leak
// or an error is a non-zero exit).
//
// Backends come from the environment, so every suite runs unchanged on each:
//   ECSHOT_TEST_STORE=sqlite (default)  a fresh SQLite file per server;
//   ECSHOT_TEST_STORE=postgresql        a fresh database per server, made with
//                                       psql on the PostgreSQL whose admin URL
//                                       is $ECSHOT_TEST_PG, dropped at stop;
//   ECSHOT_TEST_LIMITS=memory (default) each server's own memory: limits;
//   ECSHOT_TEST_LIMITS=redis            $ECSHOT_TEST_REDIS_URL with a prefix
//                                       of its own per server.
// opts.storeUrl / opts.limitsUrl override both, so that several servers can
// share one store and one limits (the test then owns the database: see
// createTestDatabase and redisLimitsUrl).
//
// Every server has a master key file (--master-key), made with
// `ecshot master-key create` in its directory unless opts.masterKey names
// one: servers that share a store must share the key file too
// (createMasterKey). The CLI of a server handle is given the same file.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const here = path.dirname(fileURLToPath(import.meta.url));

// The build under test: $ECSHOT_BUILD, else the repository's build/.
export const BUILD_DIR = process.env.ECSHOT_BUILD
    ? path.resolve(process.env.ECSHOT_BUILD)
    : path.resolve(here, '../../../build');
export const ECSHOTD = path.join(BUILD_DIR, 'src/daemon/ecshotd');
export const ECSHOT = path.join(BUILD_DIR, 'src/cli/ecshot');

const STDERR_KEEP = 64 * 1024; // how much of the daemon's log to keep for reports

// Runs the ecshot CLI; never throws on a non-zero exit.
export function runEcshot(args, { env, timeoutMs = 60000 } = {}) {
    return new Promise((resolve, reject) => {
        execFile(ECSHOT, args, {
            env: { ...process.env, ...(env || {}) },
            timeout: timeoutMs,
            maxBuffer: 64 << 20,
        }, (err, stdout, stderr) => {
            if (err && typeof err.code !== 'number') {
                if (err.code === 'ENOENT')
                    return reject(new Error(`${ECSHOT} not found: build it (ECSHOT_BUILD=${BUILD_DIR})`));
                if (err.killed)
                    return reject(new Error(`ecshot ${args.join(' ')} timed out\n${stderr}`));
                if (err.signal)
                    return reject(new Error(`ecshot ${args.join(' ')} died of ${err.signal}\n${stderr}`));
                return reject(err);
            }
            resolve({ code: err ? err.code : 0, stdout, stderr });
        });
    });
}

// A fresh instance id: "i-" and 20 lower-case letters and digits.
export function newInstanceId() {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    const bytes = randomBytes(20);
    let id = 'i-';
    for (const b of bytes) id += alphabet[b % alphabet.length];
    return id;
}

// A fresh account id: 16 digits, like Alibaba's.
export function newAccountId() {
    let id = String(1 + (randomBytes(1)[0] % 9));
    for (const b of randomBytes(15)) id += String(b % 10);
    return id;
}

// AccessKey pairs that look like Alibaba's (LTAI + 20, secret of 30).
export function newAccessKey() {
    const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const pick = (n) => Array.from(randomBytes(n), (b) => alnum[b % alnum.length]).join('');
    return { accessKeyId: 'LTAI' + pick(20), accessKeySecret: pick(30) };
}

// Makes a master key file with `ecshot master-key create FILE`; resolves to
// its fingerprint (16 hex digits), rejects with the CLI's stderr.
export async function createMasterKey(file) {
    const r = await runEcshot(['master-key', 'create', file]);
    const m = /^([0-9a-f]{16})\n$/.exec(r.stdout);
    if (r.code !== 0 || !m)
        throw new Error(`ecshot master-key create ${file} exited ${r.code}: ${r.stdout}${r.stderr}`);
    return m[1];
}

// ---------------------------------------------------------------- backends

// A random lower-case suffix for database names and Redis prefixes.
const uniqueSuffix = () => randomBytes(6).toString('hex');

// The backends chosen by the environment (see the top of this file).
export function backendMode() {
    const store = process.env.ECSHOT_TEST_STORE || 'sqlite';
    const limits = process.env.ECSHOT_TEST_LIMITS || 'memory';
    if (store !== 'sqlite' && store !== 'postgresql')
        throw new Error(`ECSHOT_TEST_STORE=${store}: want sqlite or postgresql`);
    if (limits !== 'memory' && limits !== 'redis')
        throw new Error(`ECSHOT_TEST_LIMITS=${limits}: want memory or redis`);
    return { store, limits };
}

// $name, or a loud failure saying which mode needs it.
function requiredEnv(name, why) {
    const v = process.env[name];
    if (!v) throw new Error(`${why} needs ${name} (scripts/test.sh sets it from tests/services/)`);
    return v;
}

// Runs one SQL command with psql on the database of url; rejects with
// psql's stderr when it fails.
export function psql(url, sql, { timeoutMs = 30000 } = {}) {
    return new Promise((resolve, reject) => {
        execFile('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql],
                 { timeout: timeoutMs, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } },
                 (err, stdout, stderr) => {
                     if (err) reject(new Error(`psql ${JSON.stringify(sql)}: ${stderr.trim() || err.message}`));
                     else resolve(stdout);
                 });
    });
}

// The libpq URL adminUrl with its database name replaced by dbname
// ("postgresql://[auth@][host][:port][/db][?params]").
export function pgUrlWithDatabase(adminUrl, dbname) {
    const m = /^(postgres(?:ql)?:\/\/[^/?#]*)(?:\/[^?#]*)?(\?[^#]*)?$/.exec(adminUrl);
    if (!m) throw new Error(`not a postgresql:// URL: ${adminUrl}`);
    return `${m[1]}/${dbname}${m[2] ?? ''}`;
}

// Creates an empty database ecshot_it_<random> on the PostgreSQL of
// adminUrl (default $ECSHOT_TEST_PG). Resolves to {name, url, drop()};
// drop() ends every session still on it (WITH (FORCE)) and is idempotent.
export async function createTestDatabase(adminUrl = requiredEnv('ECSHOT_TEST_PG', 'a PostgreSQL test database')) {
    const name = `ecshot_it_${uniqueSuffix()}`;
    await psql(adminUrl, `CREATE DATABASE ${name}`);
    let dropped = null;
    return {
        name,
        url: pgUrlWithDatabase(adminUrl, name),
        drop() {
            dropped ??= psql(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
            return dropped;
        },
    };
}

// baseUrl (default $ECSHOT_TEST_REDIS_URL) with prefix=PREFIX (replacing
// any prefix it had): a key space of its own on a shared Redis. The default
// prefix is "it-<random>:".
export function redisLimitsUrl(prefix = `it-${uniqueSuffix()}:`,
                               baseUrl = requiredEnv('ECSHOT_TEST_REDIS_URL', 'Redis limits')) {
    const q = baseUrl.indexOf('?');
    const base = q < 0 ? baseUrl : baseUrl.slice(0, q);
    const params = q < 0 ? [] : baseUrl.slice(q + 1).split('&').filter((p) => p && !p.startsWith('prefix='));
    params.push(`prefix=${encodeURIComponent(prefix)}`);
    return `${base}?${params.join('&')}`;
}

// Starts ecshotd. Options: throttleMs, consoleTimeoutMs, wakeSettleMs,
// retiredTypes (array of type names: written to a file), logLevel, args,
// storeUrl and limitsUrl (shared backends the caller owns; by default the
// environment's, see the top of this file), masterKey (a key file the
// caller owns; by default a fresh one in the server's directory).
export async function startServer(opts = {}) {
    if (!existsSync(ECSHOTD))
        throw new Error(`${ECSHOTD} not found: build it (ECSHOT_BUILD=${BUILD_DIR})`);
    const mode = backendMode();
    const dir = await mkdtemp(path.join(tmpdir(), 'ecshot-it-'));
    // A database this server made is dropped when it stops (or fails to start).
    let ownDb = null;
    let storeUrl = opts.storeUrl;
    if (!storeUrl && mode.store === 'postgresql') {
        try {
            ownDb = await createTestDatabase();
        } catch (e) {
            await rm(dir, { recursive: true, force: true });
            throw e;
        }
        storeUrl = ownDb.url;
    }
    storeUrl ??= `sqlite:${path.join(dir, 'ecshot.db')}`;
    const limitsUrl = opts.limitsUrl ?? (mode.limits === 'redis' ? redisLimitsUrl() : 'memory:');
    const masterKey = opts.masterKey ?? path.join(dir, 'master.key');
    if (!opts.masterKey) {
        try {
            await createMasterKey(masterKey);
        } catch (e) {
            await rm(dir, { recursive: true, force: true });
            if (ownDb) await ownDb.drop().catch((d) => { e.message += `\n${d.message}`; });
            throw e;
        }
    }
    const args = ['--listen', '127.0.0.1:0', '--store', storeUrl, '--master-key', masterKey,
                  '--limits', limitsUrl];
    if (opts.throttleMs !== undefined) args.push('--throttle-ms', String(opts.throttleMs));
    if (opts.consoleTimeoutMs !== undefined)
        args.push('--console-timeout-ms', String(opts.consoleTimeoutMs));
    if (opts.wakeSettleMs !== undefined) args.push('--wake-settle-ms', String(opts.wakeSettleMs));
    if (opts.retiredTypes) {
        const file = path.join(dir, 'retired.txt');
        await writeFile(file, '# test list\n' + opts.retiredTypes.join('\n') + '\n');
        args.push('--retired-types', file);
    }
    if (opts.logLevel) args.push('--log-level', opts.logLevel);
    if (opts.args) args.push(...opts.args);

    // The daemon creates (or migrates) the store; the CLI opens the same one
    // later (SQLite: WAL; PostgreSQL: its own connections).
    const child = spawn(ECSHOTD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
        stderr += s;
        if (stderr.length > 2 * STDERR_KEEP) stderr = stderr.slice(-STDERR_KEEP);
    });
    const exited = new Promise((resolve) => {
        child.on('exit', (code, signal) => resolve({ code, signal }));
    });

    let stdout = '';
    child.stdout.setEncoding('utf8');
    const port = await new Promise((resolve, reject) => {
        const onData = (s) => {
            stdout += s;
            const nl = stdout.indexOf('\n');
            if (nl < 0) return;
            const m = /^ecshotd: listening on 127\.0\.0\.1:(\d+)$/.exec(stdout.slice(0, nl));
            child.stdout.off('data', onData);
            if (m) resolve(Number(m[1]));
            else reject(new Error(`unexpected first line from ecshotd: ${JSON.stringify(stdout)}`));
        };
        child.stdout.on('data', onData);
        child.on('error', reject);
        exited.then(({ code, signal }) =>
            reject(new Error(`ecshotd exited (code ${code}, signal ${signal}) before listening:\n${stderr}`)));
    }).catch(async (e) => {
        child.kill('SIGKILL');
        if (child.pid !== undefined) await exited;
        await rm(dir, { recursive: true, force: true });
        if (ownDb) await ownDb.drop().catch((d) => { e.message += `\n${d.message}`; });
        throw e;
    });
    // Anything else on stdout is a violation of "exactly one line".
    let extraStdout = stdout.slice(stdout.indexOf('\n') + 1);
    child.stdout.on('data', (s) => { extraStdout += s; });

    let stopped = null;
    let killedWith = null;
    const host = `127.0.0.1:${port}`;
    const server = {
        port,
        host,
        endpoint: `http://${host}`,
        storeUrl,
        limitsUrl,
        masterKey,
        dir,
        pid: child.pid,
        args,
        stderr: () => stderr,
        // Resolves once the daemon's stderr holds count lines matching re
        // (a line logged after some event, e.g. a SIGHUP reload): waits on
        // the pipe, not on a clock.
        waitForLog(re, count = 1) {
            const matches = () => stderr.split('\n').filter((l) => re.test(l)).length >= count;
            return new Promise((resolve) => {
                if (matches()) return resolve();
                const onData = () => {
                    if (!matches()) return;
                    child.stderr.off('data', onData);
                    resolve();
                };
                child.stderr.on('data', onData);
            });
        },
        extraStdout: () => extraStdout,
        exited,
        // Operator CLI on this server's store, with its master key.
        cli: (...cliArgs) => runEcshot(['--store', storeUrl, '--master-key', masterKey, ...cliArgs]),
        // As cli(), failing with the CLI's stderr when it exits non-zero.
        async admin(...cliArgs) {
            const r = await runEcshot(['--store', storeUrl, '--master-key', masterKey, ...cliArgs]);
            if (r.code !== 0)
                throw new Error(`ecshot ${cliArgs.join(' ')} exited ${r.code}: ${r.stderr}`);
            return r;
        },
        // The `ecshot screenshot` client against this server.
        screenshot: (key, cliArgs, env = {}) => runEcshot(
            ['screenshot', '--endpoint', `http://${host}`, ...cliArgs],
            { env: { ALIBABA_CLOUD_ACCESS_KEY_ID: key.accessKeyId,
                     ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.accessKeySecret, ...env } }),
        // Creates an account with a root AccessKey; returns {accountId, key}.
        async account(accountId = newAccountId()) {
            await server.admin('account', 'create', accountId);
            const key = newAccessKey();
            const r = await server.admin('key', 'create', accountId, '--id', key.accessKeyId,
                                         '--secret', key.accessKeySecret);
            if (r.stdout.trim() !== `${key.accessKeyId} ${key.accessKeySecret}`)
                throw new Error(`key create printed ${JSON.stringify(r.stdout)}`);
            return { accountId, key };
        },
        // Creates ACCOUNT/USER with a key and optional policies {name: doc}.
        async ramUser(accountId, user, policies = {}) {
            await server.admin('user', 'create', accountId, user);
            const key = newAccessKey();
            await server.admin('key', 'create', `${accountId}/${user}`, '--id', key.accessKeyId,
                               '--secret', key.accessKeySecret);
            for (const [name, doc] of Object.entries(policies)) {
                const file = path.join(dir, `policy-${randomBytes(6).toString('hex')}.json`);
                await writeFile(file, JSON.stringify(doc));
                await server.admin('policy', 'attach', `${accountId}/${user}`, file, '--name', name);
            }
            return key;
        },
        // Registers an instance; returns its id.
        async instance({ id = newInstanceId(), region = 'cn-hangzhou', account, type = 'ecs.g7.large',
                         console: consoleUrl, status, tags = {} }) {
            const a = ['instance', 'add', id, '--region', region, '--account', account,
                       '--type', type, '--console', consoleUrl];
            if (status) a.push('--status', status);
            for (const [k, v] of Object.entries(tags)) a.push('--tag', `${k}=${v}`);
            await server.admin(...a);
            return id;
        },
        // Sends signal (default SIGKILL) to the daemon on purpose: stop()
        // then accepts its death by that signal. Resolves once it exited.
        async kill(signal = 'SIGKILL') {
            killedWith = signal;
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
        },
        // SIGTERM and wait; throws when the daemon did not exit 0 (the
        // report carries its stderr), unless kill() ended it. Drops the
        // database it made. Idempotent.
        stop() {
            if (!stopped) stopped = (async () => {
                if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
                const deadline = setTimeout(() => child.kill('SIGKILL'), 30000);
                const { code, signal } = await exited;
                clearTimeout(deadline);
                await rm(dir, { recursive: true, force: true });
                try {
                    if (killedWith && signal === killedWith) return;
                    if (code !== 0)
                        throw new Error(`ecshotd exited with code ${code}, signal ${signal}\n` +
                                        `--- ecshotd stderr ---\n${stderr.slice(-8000)}`);
                    if (extraStdout !== '')
                        throw new Error(`ecshotd wrote more than one line on stdout: ${JSON.stringify(extraStdout)}`);
                } finally {
                    if (ownDb) await ownDb.drop();
                }
            })();
            return stopped;
        },
    };
    return server;
}
