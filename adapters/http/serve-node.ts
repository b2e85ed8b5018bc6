// Node: the Hono app on node:http through @hono/node-server (https://github.com/honojs/node-server).
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { HTTP_CLOSE_TIMEOUT_MS, type FetchApp, type HttpListenOptions, type HttpServer } from './types.ts';

export function serveHttp(app: FetchApp, options: HttpListenOptions): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }) as Server;
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      const port = (server.address() as AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        port,
        close: () =>
          (closing ??= new Promise<void>((done) => {
            const timer = setTimeout(done, HTTP_CLOSE_TIMEOUT_MS);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            // Long-lived responses (SSE) would hold close() open: end them
            // (https://nodejs.org/api/http.html#servercloseallconnections, Node >= 18.2).
            server.closeAllConnections?.();
          })),
      });
    });
  });
}
