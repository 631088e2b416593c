import { soakContent } from './local-servers.ts';

export type SubmissionKind = 'native_upload' | 'bucketscan_upload' | 'native_url' | 'bucketav_url';
const KINDS: SubmissionKind[] = ['native_upload', 'bucketscan_upload', 'native_url', 'bucketav_url'];

/** A job the service acknowledged (2xx): from then on it owes it exactly one verdict. */
export interface SubmittedJob {
  n: number;
  kind: SubmissionKind;
  infected: boolean;
  traceId: string;
  /** Known from the response (native, Bucketscan); bucketAV jobs are found by trace id. */
  jobId?: string;
  callback: boolean;
}

export type FinalStatus = 'clean' | 'infected' | 'unscannable';
export type JobState =
  | { state: 'pending' }
  | { state: 'missing' }
  | { state: 'done'; status: FinalStatus; reason?: string };

export interface TrafficOptions {
  serviceUrl: string;
  apiKey: string;
  fileOrigin: string;
  receiverOrigin: string;
  runId: string;
}

/** Network failures where the request may or may not have reached the service. */
function isAmbiguous(error: unknown): boolean {
  const code = (error as { cause?: { code?: string } }).cause?.code;
  return code !== 'ECONNREFUSED';
}

/**
 * Submits a steady mix of scans — uploads through the native and Bucketscan APIs, URL scans
 * through the native and bucketAV APIs, 1 in 5 EICAR, most with a callback — and records what the
 * service acknowledged. A request the service never answered is not counted as submitted.
 */
export class Traffic {
  readonly submitted: SubmittedJob[] = [];
  /** Submissions answered with an error status or refused at connect (service down), by reason. */
  readonly refused = new Map<string, number>();
  /** Requests cut off without an answer: the job may exist, but the client cannot know. */
  unacknowledged = 0;
  readonly #options: TrafficOptions;
  readonly #inFlight = new Set<Promise<void>>();
  #next = 0;

  constructor(options: TrafficOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Starts one submission; returns at once (the caller keeps the rate). */
  submitOne(): void {
    const n = this.#next++;
    const task = this.#submit(n).finally(() => this.#inFlight.delete(task));
    this.#inFlight.add(task);
  }

  async settle(): Promise<void> {
    await Promise.all([...this.#inFlight]);
  }

  async #submit(n: number): Promise<void> {
    const kind = KINDS[n % KINDS.length]!;
    const job: SubmittedJob = {
      n,
      kind,
      infected: n % 5 === 0,
      traceId: `${this.#options.runId}-${n}`,
      callback: kind === 'native_url' || kind === 'bucketav_url' || (kind === 'native_upload' && n % 2 === 0),
    };
    let response: Response;
    try {
      response = await fetch(`${this.#options.serviceUrl}${this.#route(kind)}`, {
        method: 'POST',
        headers: this.#headers(kind),
        body: this.#body(job),
        signal: AbortSignal.timeout(20_000),
      });
    } catch (error) {
      if (isAmbiguous(error)) this.unacknowledged++;
      else this.#countRefusal('service_down');
      return;
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) return this.#countRefusal(`http_${response.status}`);
    if (kind === 'native_upload' || kind === 'native_url')
      job.jobId = (JSON.parse(text) as { id: string }).id;
    if (kind === 'bucketscan_upload') job.jobId = (JSON.parse(text) as { scanId: string }).scanId;
    this.submitted.push(job);
  }

  #countRefusal(reason: string): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }

  #route(kind: SubmissionKind): string {
    return {
      native_upload: '/v1/scans/file',
      bucketscan_upload: '/api/v1/scans/initiate',
      native_url: '/v1/scans/url',
      bucketav_url: '/api/v1/scan/async/download',
    }[kind];
  }

  #headers(kind: SubmissionKind): Record<string, string> {
    const auth: Record<string, string> =
      kind === 'bucketscan_upload'
        ? { 'x-api-key': this.#options.apiKey }
        : { authorization: `Bearer ${this.#options.apiKey}` };
    return kind.endsWith('_url') ? { ...auth, 'content-type': 'application/json' } : auth;
  }

  #body(job: SubmittedJob): FormData | string {
    const callbackUrl = `${this.#options.receiverOrigin}/callback/${job.traceId}`;
    const fileUrl = `${this.#options.fileOrigin}/${job.infected ? 'infected' : 'clean'}/${job.n}`;
    switch (job.kind) {
      case 'native_upload': {
        const form = new FormData();
        form.set('trace_id', job.traceId);
        if (job.callback) form.set('callback_url', callbackUrl);
        form.set('file', new Blob([soakContent(job.infected, job.n)]), `input-${job.n}.bin`);
        return form;
      }
      case 'bucketscan_upload': {
        const form = new FormData();
        form.set('file', new Blob([soakContent(job.infected, job.n)]), `input-${job.n}.bin`);
        return form;
      }
      case 'native_url':
        return JSON.stringify({ url: fileUrl, trace_id: job.traceId, callback_url: callbackUrl });
      case 'bucketav_url':
        return JSON.stringify({ download_url: fileUrl, trace_id: job.traceId, callback_url: callbackUrl });
    }
  }

  /** The job's state as a client sees it through the API it was submitted with. */
  async stateOf(job: SubmittedJob): Promise<JobState> {
    const { serviceUrl, apiKey } = this.#options;
    const headers = { authorization: `Bearer ${apiKey}` };
    const signal = AbortSignal.timeout(10_000);
    if (job.kind === 'bucketav_url') {
      const query = new URLSearchParams({ trace_id: job.traceId });
      const response = await fetch(`${serviceUrl}/api/v1/scan/async/result?${query}`, { headers, signal });
      // bucketAV answers 404 until the result exists: pending and lost look the same until the end.
      if (response.status === 404) return { state: 'pending' };
      const body = (await response.json()) as { status: 'clean' | 'infected' | 'no' };
      return { state: 'done', status: body.status === 'no' ? 'unscannable' : body.status };
    }
    if (job.kind === 'bucketscan_upload') {
      const response = await fetch(`${serviceUrl}/api/v1/scans/${job.jobId}`, { headers, signal });
      if (response.status === 404) return { state: 'missing' };
      const { scanResult } = (await response.json()) as { scanResult: string };
      if (scanResult === 'pending') return { state: 'pending' };
      const status = { completed_clean: 'clean', completed_infected: 'infected', failed: 'unscannable' }[
        scanResult
      ];
      return { state: 'done', status: (status ?? 'unscannable') as FinalStatus };
    }
    const response = await fetch(`${serviceUrl}/v1/scans/${job.jobId}`, { headers, signal });
    if (response.status === 404) return { state: 'missing' };
    const body = (await response.json()) as { status: FinalStatus | 'pending'; reason: string | null };
    if (body.status === 'pending') return { state: 'pending' };
    return body.reason
      ? { state: 'done', status: body.status, reason: body.reason }
      : { state: 'done', status: body.status };
  }
}
