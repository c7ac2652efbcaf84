// Serves PGlite with the timescaledb extension on a TCP socket on loopback, for
// tsarchive's tests: a stand-in for a TimescaleDB server (the real extension is not
// in the package registries). One shared session; COPY ... FROM STDIN breaks it.
// usage: node pglite-server.mjs PORT [DATADIR]
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const port = parseInt(process.argv[2] || '55433', 10);
const dir = process.argv[3] || 'memory://';
const db = new PGlite(dir, { extensions: { timescaledb } });
await db.waitReady;
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1' });
await server.start();
console.log(`pglite+timescaledb listening on 127.0.0.1:${port}`);
const stop = async () => { await server.stop(); await db.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
