// HTTP client of the origin's fleet endpoint (protocol/fleet.ts): register, heartbeat, leave.
// Answers are zod-parsed; a 409 (a stale session or sequence) surfaces as StaleSessionError so the
// node registers again, anything else as FleetRequestError. One attempt per call: the heartbeat
// loop itself is the retry.
import {
  type HeartbeatRequest,
  HeartbeatResponse,
  type LeaveRequest,
  type RegisterRequest,
  RegisterResponse,
} from '../../../../protocol/fleet.ts';

const REQUEST_TIMEOUT_MS = 5_000;

export class StaleSessionError extends Error {
  override readonly name = 'StaleSessionError';
}

export class FleetRequestError extends Error {
  override readonly name = 'FleetRequestError';
  readonly status: number | null;

  constructor(message: string, status: number | null) {
    super(message);
    this.status = status;
  }
}

export interface FleetClientOptions {
  originUrl: string;
  /** The node token (fleet1.<node id>.<hmac>). */
  token: string;
  fetch?: typeof fetch;
}

export class FleetClient {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;

  constructor(options: FleetClientOptions) {
    this.#baseUrl = `${options.originUrl.replace(/\/+$/, '')}/internal/fleet`;
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
  }

  async register(request: RegisterRequest): Promise<RegisterResponse> {
    return RegisterResponse.parse(JSON.parse(await this.#post('register', request)));
  }

  async heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    return HeartbeatResponse.parse(JSON.parse(await this.#post('heartbeat', request)));
  }

  async leave(request: LeaveRequest): Promise<void> {
    await this.#post('leave', request);
  }

  async #post(path: string, body: unknown): Promise<string> {
    let response: Response;
    try {
      response = await this.#fetch(`${this.#baseUrl}/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new FleetRequestError(
        `POST ${path}: ${error instanceof Error ? error.message : String(error)}`,
        null,
      );
    }
    const text = await response.text().catch(() => '');
    if (response.ok) return text;
    if (response.status === 409)
      throw new StaleSessionError(`POST ${path} answered 409: ${text.slice(0, 200)}`);
    throw new FleetRequestError(
      `POST ${path} answered ${response.status}: ${text.slice(0, 200)}`,
      response.status,
    );
  }
}
