import type { SweepRequest } from './sweep.ts';

/**
 * What the main thread asks of the maintenance thread (maintenance-worker.ts). Named apart from
 * both: the worker's script opens a SqliteDatabase, and SqliteDatabase sends these requests.
 */
export type MaintenanceRequest = ({ kind: 'sweep' } & SweepRequest) | { kind: 'checkpoint' };
