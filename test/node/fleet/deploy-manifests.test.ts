// The deployment files of the ingest fleet, checked offline: every Kubernetes object in ops/k8s/
// against the Kubernetes OpenAPI schemas that kubernetes-models ships (its validate()), the compose
// file against the Compose Specification's JSON schema vendored in ops/compose/, and the properties
// the fleet relies on (host networking, readiness from /healthz, drain inside the grace period,
// a disruption budget over the same pods, the compose front equal to the one npm start writes).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { planFleetNodes, renderHaproxyConfig } from '../../../scripts/lib/fleet.ts';
import { ROOT } from '../../../scripts/lib/platform.ts';

const K8S_DIR = join(ROOT, 'ops', 'k8s');
const COMPOSE_DIR = join(ROOT, 'ops', 'compose');

interface Validating {
  validate(): void;
}
type ModelClass = new (data: never) => Validating;

const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

interface Manifest {
  apiVersion: string;
  kind: string;
  [field: string]: unknown;
}

function readManifests(): Manifest[] {
  return readdirSync(K8S_DIR)
    .filter((name) => name.endsWith('.yaml'))
    .flatMap((name) =>
      parseAllDocuments(readFileSync(join(K8S_DIR, name), 'utf8')).map((doc) => {
        if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors[0]?.message}`);
        return doc.toJS() as Manifest;
      }),
    );
}

/** Validates one object with the schema of its apiVersion and kind; throws with the first error. */
function validateManifest(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (Model === undefined) throw new Error(`no schema here for ${manifest.apiVersion} ${manifest.kind}`);
  new Model(manifest as never).validate();
}

function findKind<T>(manifests: Manifest[], kind: string): T {
  const found = manifests.find((m) => m.kind === kind);
  if (!found) throw new Error(`no ${kind}`);
  return found as T;
}

interface StatefulSetShape {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        hostNetwork: boolean;
        terminationGracePeriodSeconds: number;
        containers: Array<{
          readinessProbe: { httpGet?: { path: string } };
          livenessProbe: { httpGet?: unknown; tcpSocket?: unknown };
          lifecycle?: { preStop?: unknown };
        }>;
      };
    };
  };
}

describe('Kubernetes manifests (ops/k8s)', () => {
  const manifests = readManifests();

  it('are valid Kubernetes objects by the API schemas, offline', () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual([
      'ConfigMap',
      'Namespace',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'StatefulSet',
    ]);
    for (const manifest of manifests) expect(() => validateManifest(manifest)).not.toThrow();
  });

  it('the validator refuses a broken object (it checks, it does not just parse)', () => {
    const set = structuredClone(manifests.find((m) => m.kind === 'StatefulSet')) as Manifest;
    (set as unknown as StatefulSetShape).spec.template.spec.hostNetwork = 'yes' as unknown as boolean;
    expect(() => validateManifest(set)).toThrow(/hostNetwork must be boolean/);
  });

  it('run nodes on host networking, ready by /healthz, draining within the grace period, one at a time', () => {
    const set = findKind<StatefulSetShape>(manifests, 'StatefulSet');
    const pod = set.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    const container = pod.containers[0];
    expect(container?.readinessProbe.httpGet?.path).toBe('/healthz');
    // A draining node answers /healthz 503: liveness must not restart it for that.
    expect(container?.livenessProbe.httpGet).toBeUndefined();
    expect(container?.lifecycle?.preStop).toBeDefined();
    const config = findKind<{ data: Record<string, string> }>(manifests, 'ConfigMap');
    const drainSeconds = Number(config.data.DRAIN_DEADLINE_SECONDS);
    expect(drainSeconds).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drainSeconds);
    const budget = findKind<{
      spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
    }>(manifests, 'PodDisruptionBudget');
    expect(budget.spec.maxUnavailable).toBe(1);
    expect(set.spec.template.metadata.labels).toMatchObject(budget.spec.selector.matchLabels);
  });
});

describe('Compose file (ops/compose)', () => {
  // Draft 2019-09, which Ajv2019 assumes; its "$schema" line names the draft by an older URI.
  const { $schema: _draft, ...schema } = JSON.parse(
    readFileSync(join(COMPOSE_DIR, 'compose-spec.schema.json'), 'utf8'),
  ) as Record<string, unknown>;
  // The schema predates `$id` and names its own formats; the Compose ones are checked loosely.
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('ports', true);
  ajv.addFormat('subnet_ip_address', true);
  const validate = ajv.compile(schema);
  const compose = parseYaml(readFileSync(join(COMPOSE_DIR, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<
      string,
      { network_mode?: string; stop_grace_period?: string; environment?: Record<string, string> }
    >;
  };

  it('is valid by the Compose Specification schema, offline, and the schema refuses a broken file', () => {
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
    const broken = structuredClone(compose);
    (broken.services['ingest-1'] as Record<string, unknown>).stop_grace_period = 'an hour';
    expect(validate(broken)).toBe(false);
  });

  it('runs three nodes and the front on host networking, each node with its own id and a drain-sized grace', () => {
    const nodes = Object.entries(compose.services).filter(([name]) => name.startsWith('ingest-'));
    expect(nodes).toHaveLength(3);
    for (const [name, service] of nodes) {
      expect(service.network_mode).toBe('host');
      expect(service.environment?.FLEET_NODE_ID).toBe(name);
      expect(service.stop_grace_period).toBe('1h1m');
    }
    expect(compose.services.front?.network_mode).toBe('host');
  });

  it('fronts the nodes with the HAProxy configuration npm start -- --nodes 3 writes', () => {
    const body = (text: string) => text.slice(text.indexOf('global'));
    const written = renderHaproxyConfig(planFleetNodes(3), { rtmp: 1935, rtmps: 1936, backupRtmp: 1945 });
    expect(body(readFileSync(join(COMPOSE_DIR, 'haproxy.cfg'), 'utf8'))).toBe(body(written));
  });
});
