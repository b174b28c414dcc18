// Lints the deployment files without a Docker engine or a cluster (none runs here): the Dockerfile with
// dockerfile-utils (the validator of the VS Code Docker extension) plus the project's own rules (multi-stage,
// non-root USER, HEALTHCHECK, every COPY source exists); the Kubernetes manifests against the Kubernetes JSON
// schemas compiled into kubernetes-models, plus probes, resources and the security context; and the config
// files through `sentinel check-config`, the same decoder `serve` uses.
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { validate } from "dockerfile-utils"
import * as Yaml from "effect/encoding/Yaml"
import { Deployment } from "kubernetes-models/apps/v1/Deployment"
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget"
import { ConfigMap } from "kubernetes-models/v1/ConfigMap"
import { Service } from "kubernetes-models/v1/Service"
import { root } from "../e2e/sentinel.ts"

const read = (path: string) => readFileSync(join(root, path), "utf8")
const docs = (path: string): Array<Record<string, any>> =>
  read(path)
    .split(/^---$/m)
    .map((d) => Yaml.parse(d) as Record<string, any>)
const models: Record<string, new (o: any) => { validate(): void }> = {
  Deployment,
  Service,
  ConfigMap,
  PodDisruptionBudget
}
const checkConfig = (yaml: string) => {
  const file = join(mkdtempSync(join(tmpdir(), "sentinel-deploy-")), "sentinel.yaml")
  writeFileSync(file, yaml)
  return spawnSync(process.execPath, [join(root, "packages/server/src/bin.ts"), "check-config", "--config", file], {
    encoding: "utf8"
  })
}

describe("deployment", () => {
  it("Dockerfile: valid, multi-stage, non-root, health check, every COPY source exists", () => {
    const text = read("Dockerfile")
    assert.deepStrictEqual(
      validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`),
      []
    )
    assert.isAtLeast(text.match(/^FROM /gm)?.length ?? 0, 2)
    const users = [...text.matchAll(/^USER (\S+)/gm)].map((m) => m[1])
    assert.isTrue(users.length > 0 && users.at(-1) !== "root" && users.at(-1) !== "0")
    assert.match(text, /^HEALTHCHECK .*\n?.*\/healthz/m)
    for (const m of text.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)) {
      for (const src of (m[1] ?? "").split(" ")) assert.isTrue(existsSync(join(root, src)), `COPY source ${src}`)
    }
    assert.strictEqual(checkConfig(read("deploy/sentinel.yaml")).status, 0)
  })

  it("Kubernetes manifests match the Kubernetes schemas; probes, resources and security context are set", () => {
    const all = [...docs("deploy/k8s/deployment.yaml"), ...docs("deploy/k8s/configmap.yaml")]
    for (const o of all) {
      const Model = models[o.kind]
      assert.isDefined(Model, `a model for ${o.kind}`)
      new Model!(o).validate() // throws with the failing path
    }
    const deployment = all.find((o) => o.kind === "Deployment")!
    const pod = deployment.spec.template.spec
    const c = pod.containers[0]
    assert.strictEqual(c.readinessProbe.httpGet.path, "/readyz")
    assert.strictEqual(c.livenessProbe.httpGet.path, "/healthz")
    assert.isDefined(c.resources.requests.cpu)
    assert.isDefined(c.resources.limits.memory)
    assert.isTrue(c.securityContext.readOnlyRootFilesystem)
    assert.isTrue(pod.securityContext.runAsNonRoot)
    assert.isTrue(c.ports.some((p: { containerPort: number }) => p.containerPort === 7300))
    const config = all.find((o) => o.kind === "ConfigMap")!
    assert.strictEqual(pod.volumes.find((v: any) => v.name === "config").configMap.name, config.metadata.name)
    const result = checkConfig(config.data["sentinel.yaml"])
    assert.strictEqual(result.status, 0, result.stderr + result.stdout)
    assert.include(result.stdout, '"kafka"')
  })

  it("the schema check catches a broken manifest", () => {
    const [d] = docs("deploy/k8s/deployment.yaml")
    d!.spec.template.spec.containers[0].ports[0].containerPort = "http"
    assert.throws(() => new Deployment(d as any).validate(), /containerPort/)
  })
})
