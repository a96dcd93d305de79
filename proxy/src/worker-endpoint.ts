import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { ProxyToWorker, WorkerToProxy } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { AdmissionError, type AdmittedWorker, type WorkerLink, type WorkerRegistry } from './registry.js';

export type JobMessage = Extract<WorkerToProxy, { type: 'chunk' | 'receipt' | 'refused' }>;

/** Receives what workers say about jobs (the router). */
export interface JobMessageHandler {
  fromWorker(worker: AdmittedWorker, message: JobMessage): void;
}

export interface WorkerEndpointOptions {
  path: string;
  /** A connection that has not said hello by then is closed. */
  helloTimeoutMs: number;
  /** Largest WebSocket message accepted (attestation bundles with collateral, sealed chunks). */
  maxMessageBytes: number;
  /** Told the outcome of each hello that reached admission (for the admissions counter). */
  onAdmission?(result: 'admitted' | 'refused'): void;
}

const POLICY_VIOLATION = 1008;

/** The WebSocket endpoint workers dial: hello and admission, then heartbeats and job traffic. */
export class WorkerEndpoint {
  readonly #server: WebSocketServer;

  constructor(
    httpServer: HttpServer | HttpsServer,
    private readonly registry: WorkerRegistry,
    private readonly jobs: JobMessageHandler,
    private readonly options: WorkerEndpointOptions,
    private readonly log?: Logger,
  ) {
    this.#server = new WebSocketServer({
      server: httpServer,
      path: options.path,
      maxPayload: options.maxMessageBytes,
    });
    this.#server.on('connection', (socket, request) => this.#accept(socket, request));
  }

  /** Closes every worker connection. */
  close(): Promise<void> {
    for (const client of this.#server.clients) client.terminate();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: WebSocket, request: IncomingMessage): void {
    const remote = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
    const sendText = (text: string) => {
      if (socket.readyState === socket.OPEN) socket.send(text);
    };
    const link: WorkerLink = {
      send: (message) => sendText(JSON.stringify(ProxyToWorker.encode(message))),
      sendJob: (wire) => sendText(`{"type":"job","job":${wire}}`),
      close: (code, reason) => socket.close(code, reason),
    };
    let state: 'awaiting_hello' | 'verifying' | 'admitted' | 'closed' = 'awaiting_hello';
    let worker: AdmittedWorker | undefined;

    const refuse = (reason: string) => {
      this.log?.warn({ remote, reason }, 'worker refused');
      link.send({ type: 'rejected', reason });
      socket.close(POLICY_VIOLATION, reason.slice(0, 120));
      state = 'closed';
    };
    const helloTimer = setTimeout(() => {
      if (state === 'awaiting_hello') refuse(`no hello within ${this.options.helloTimeoutMs} ms`);
    }, this.options.helloTimeoutMs);

    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (state === 'closed') return;
      const message = parseMessage(data, isBinary);
      if (!message.success) {
        refuse(`malformed message: ${message.error}`);
        if (worker) this.registry.remove(worker, 'sent a malformed message');
        return;
      }
      if (state === 'admitted' && worker) {
        this.#handle(worker, message.data, refuse);
        return;
      }
      if (state === 'verifying') {
        refuse('wait for welcome before sending anything else');
        return;
      }
      if (message.data.type !== 'hello') {
        refuse('say hello first');
        return;
      }
      state = 'verifying';
      clearTimeout(helloTimer);
      this.registry.admit(link, message.data).then(
        (admitted) => {
          if (state === 'closed') {
            this.registry.remove(admitted, 'disconnected during admission');
            return;
          }
          this.options.onAdmission?.('admitted');
          state = 'admitted';
          worker = admitted;
          link.send({ type: 'welcome', workerId: admitted.id });
        },
        (error: unknown) => {
          this.options.onAdmission?.('refused');
          if (!(error instanceof AdmissionError)) this.log?.error({ err: error }, 'worker admission failed');
          if (state !== 'closed')
            refuse(error instanceof AdmissionError ? error.message : 'admission failed');
        },
      );
    });

    socket.on('close', () => {
      state = 'closed';
      clearTimeout(helloTimer);
      if (worker) this.registry.remove(worker, 'disconnected');
    });
    socket.on('error', (error) => this.log?.warn({ remote, err: error.message }, 'worker socket error'));
  }

  #handle(worker: AdmittedWorker, message: WorkerToProxy, refuse: (reason: string) => void): void {
    this.registry.touch(worker);
    switch (message.type) {
      case 'heartbeat':
        this.registry.heartbeat(worker, message.load);
        return;
      case 'draining':
        this.registry.drain(worker);
        return;
      case 'rotated':
        this.registry.rotate(worker, message).catch((error: unknown) => {
          const reason = error instanceof AdmissionError ? error.message : 'rotation failed';
          this.registry.remove(worker, reason, { reject: true });
          if (!(error instanceof AdmissionError)) this.log?.error({ err: error }, 'worker rotation failed');
        });
        return;
      case 'hello':
        refuse('hello sent twice');
        this.registry.remove(worker, 'hello sent twice');
        return;
      default:
        this.jobs.fromWorker(worker, message);
    }
  }
}

function parseMessage(
  data: RawData,
  isBinary: boolean,
): { success: true; data: WorkerToProxy } | { success: false; error: string } {
  if (isBinary) return { success: false, error: 'expected a JSON text frame' };
  let json: unknown;
  try {
    json = JSON.parse(data.toString());
  } catch {
    return { success: false, error: 'not JSON' };
  }
  const parsed = WorkerToProxy.safeParse(json);
  if (!parsed.success) return { success: false, error: parsed.error.issues[0]?.message ?? 'invalid' };
  return { success: true, data: parsed.data };
}
