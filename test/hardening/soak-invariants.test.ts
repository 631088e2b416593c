import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkInvariants, type SoakObservations } from '../../scripts/soak/invariants.ts';
import type { ReceivedCallback } from '../../scripts/soak/local-servers.ts';
import type { SubmittedJob } from '../../scripts/soak/traffic.ts';

/** A soak that cannot fail proves nothing: each broken promise must be reported. */
function job(n: number, overrides: Partial<SubmittedJob> = {}): SubmittedJob {
  return {
    n,
    kind: 'native_url',
    infected: false,
    traceId: `t-${n}`,
    jobId: `j-${n}`,
    callback: true,
    ...overrides,
  };
}

function delivery(traceId: string, overrides: Partial<ReceivedCallback> = {}): ReceivedCallback {
  return {
    webhookId: `msg_${traceId}`,
    traceId,
    status: 'clean',
    signatureValid: true,
    answeredWith: 204,
    ...overrides,
  };
}

function healthy(): SoakObservations {
  return {
    submitted: [job(1), job(2, { infected: true }), job(3, { kind: 'bucketscan_upload', callback: false })],
    finalStates: new Map([
      ['t-1', { state: 'done', status: 'clean' }],
      ['t-2', { state: 'done', status: 'infected' }],
      ['t-3', { state: 'done', status: 'unscannable', reason: 'engine_error' }],
    ]),
    callbacks: [
      delivery('t-1', { answeredWith: 500 }),
      delivery('t-1'),
      delivery('t-1'),
      delivery('t-2', { status: 'infected' }),
    ],
    verdictsLogged: new Map([
      ['j-1', 1],
      ['j-2', 1],
    ]),
    stagedFilesLeft: [],
  };
}

test('a run that kept every promise has no failures; redeliveries are counted, not failed', () => {
  const report = checkInvariants(healthy());
  assert.deepEqual(report.failures, []);
  assert.equal(report.duplicateCallbackDeliveries, 1);
  assert.equal(report.callbacksExpected, 2);
  assert.deepEqual(report.verdicts, { clean: 1, infected: 1, unscannable: 1 });
  assert.deepEqual(report.unscannableReasons, { engine_error: 1 });
});

test('lost jobs, wrong and duplicate verdicts, lost callbacks, bad signatures and leaked blobs are failures', () => {
  const observed = healthy();
  observed.finalStates.set('t-1', { state: 'pending' });
  observed.finalStates.set('t-2', { state: 'done', status: 'clean' });
  observed.verdictsLogged.set('j-3', 2);
  observed.callbacks = [
    delivery('t-2', { status: 'no', signatureValid: false }),
    delivery('t-2', { webhookId: 'msg_other' }),
  ];
  observed.stagedFilesLeft = ['.partial-x'];
  const report = checkInvariants(observed);
  assert.equal(report.jobsLost, 1);
  assert.equal(report.wrongVerdicts, 1);
  assert.equal(report.duplicateVerdicts, 2, 'two verdicts logged for j-3, two webhook-ids for t-2');
  assert.equal(report.callbackStatusMismatches, 1);
  assert.equal(report.invalidSignatures, 1);
  assert.equal(report.leakedBlobs, 1);
  assert.equal(report.callbacksLost, 0, 't-1 is lost as a job, its callback is not counted twice');
  assert.ok(report.failures.length >= 6);
});
