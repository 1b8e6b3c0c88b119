// The conventions rstmesh's manifests keep, checked on a whole rendered set of objects (what
// `kubectl kustomize` prints), as the cluster or a reviewer would find them missing:
//   - Pod Security: every pod meets the level its namespace enforces
//     (pod-security.kubernetes.io/enforce; "restricted" where the namespace is not in the
//     set), the checks of the Pod Security Standards;
//   - ServiceAccounts: every pod runs under its own one, and no pod gets an API token;
//   - NetworkPolicies: every pod is selected by one that restricts its ingress;
//   - the recommended app.kubernetes.io/* labels on every object and pod template;
//   - resources (cpu and memory requests, a memory limit) on every container;
//   - appProtocol on every Service port;
//   - a PodDisruptionBudget protects something: it selects a workload with more replicas
//     than it lets go, and does not block every eviction.
// `report(doc, path, message)` is called once per problem.

const kRecommendedLabels = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/component",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/version",
  "app.kubernetes.io/managed-by",
];
const kTemplateLabels = ["app.kubernetes.io/name", "app.kubernetes.io/component"];

// Capabilities "baseline" lets a container add; "restricted" allows NET_BIND_SERVICE only.
const kBaselineCapabilities = new Set([
  "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
  "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
]);
const kRestrictedVolumes = new Set([
  "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
  "projected", "secret",
]);
const kLevels = ["privileged", "baseline", "restricted"];

// The pod template of a workload: [pod template, its path], or undefined.
function podTemplate(doc) {
  switch (doc.kind) {
    case "Deployment": case "DaemonSet": case "StatefulSet": case "ReplicaSet": case "Job":
      return [doc.spec?.template, "/spec/template"];
    case "CronJob":
      return [doc.spec?.jobTemplate?.spec?.template, "/spec/jobTemplate/spec/template"];
    case "Pod":
      return [doc, ""];
    default:
      return undefined;
  }
}

function namespaceOf(doc) { return doc.metadata?.namespace ?? "default"; }

function selects(matchLabels, labels) {
  return Object.entries(matchLabels ?? {}).every(([k, v]) => labels?.[k] === v);
}

// The Pod Security Standards' checks of `level` on one pod spec.
function podSecurity(spec, path, level, namespace, problem) {
  if (level === "privileged") return;
  const say = (where, message) =>
    problem(where, `Pod Security "${level}" (namespace ${namespace}): ${message}`);
  for (const host of ["hostNetwork", "hostPID", "hostIPC"]) {
    if (spec[host] === true) say(`${path}/${host}`, "must not be true");
  }
  const pod = spec.securityContext ?? {};
  const containers = [
    ...(spec.initContainers ?? []).map((c, i) => [c, `${path}/initContainers/${i}`]),
    ...(spec.containers ?? []).map((c, i) => [c, `${path}/containers/${i}`]),
  ];
  (spec.volumes ?? []).forEach((v, i) => {
    if (v.hostPath) say(`${path}/volumes/${i}/hostPath`, "hostPath volumes are not allowed");
    const type = Object.keys(v).find((k) => k !== "name");
    if (level === "restricted" && type && !kRestrictedVolumes.has(type)) {
      say(`${path}/volumes/${i}/${type}`, `volume type ${type} is not allowed`);
    }
  });
  for (const [c, at] of containers) {
    const sc = c.securityContext ?? {};
    if (sc.privileged === true) say(`${at}/securityContext/privileged`, "must not be true");
    (c.ports ?? []).forEach((p, i) => {
      if (p.hostPort) say(`${at}/ports/${i}/hostPort`, "host ports are not allowed");
    });
    const allowed = level === "restricted" ? new Set(["NET_BIND_SERVICE"]) : kBaselineCapabilities;
    for (const cap of sc.capabilities?.add ?? []) {
      if (!allowed.has(cap)) say(`${at}/securityContext/capabilities/add`, `may not add ${cap}`);
    }
    if (level !== "restricted") continue;
    if (sc.allowPrivilegeEscalation !== false) {
      say(`${at}/securityContext/allowPrivilegeEscalation`, "must be false");
    }
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) {
      say(`${at}/securityContext/capabilities/drop`, "must include ALL");
    }
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) {
      say(`${at}/securityContext/runAsNonRoot`, "must be true (here or in the pod's securityContext)");
    }
    if ((sc.runAsUser ?? pod.runAsUser) === 0) say(`${at}/securityContext/runAsUser`, "must not be 0");
    const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
      say(`${path}/securityContext/seccompProfile`,
          `must be RuntimeDefault or Localhost (here or in every container), not ${seccomp ?? "unset"}`);
    }
  }
}

export function checkConventions(docs, report) {
  const objects = docs.filter((d) => d && typeof d === "object" && typeof d.kind === "string");
  const namespaces = new Map(objects.filter((d) => d.kind === "Namespace")
    .map((d) => [d.metadata?.name, d]));
  const serviceAccounts = new Map(objects.filter((d) => d.kind === "ServiceAccount")
    .map((d) => [`${namespaceOf(d)}/${d.metadata?.name}`, d]));
  const policies = objects.filter((d) => d.kind === "NetworkPolicy");
  const workloads = [];

  for (const doc of objects) {
    const problem = (path, message) => report(doc, path, message);
    const labels = doc.metadata?.labels ?? {};
    const missing = kRecommendedLabels.filter((l) => !labels[l]);
    if (missing.length) problem("/metadata/labels", `missing the recommended label(s) ${missing.join(", ")}`);

    if (doc.kind === "Namespace") {
      const level = labels["pod-security.kubernetes.io/enforce"];
      if (!kLevels.includes(level)) {
        problem("/metadata/labels/pod-security.kubernetes.io~1enforce",
                `must name the Pod Security level pods here meet (${kLevels.join(", ")})`);
      }
    }
    if (doc.kind === "ServiceAccount" && doc.automountServiceAccountToken !== false) {
      problem("/automountServiceAccountToken",
              "must be false: pods that never call the Kubernetes API get no token");
    }
    if (doc.kind === "Service") {
      (doc.spec?.ports ?? []).forEach((p, i) => {
        if (!p.appProtocol) {
          problem(`/spec/ports/${i}/appProtocol`,
                  `port ${p.name ?? p.port} has none (grpc, http, ...: what the port speaks, for meshes and gateways)`);
        }
      });
    }

    const template = podTemplate(doc);
    if (!template || !template[0]?.spec) continue;
    const [pod, at] = template;
    const spec = pod.spec;
    workloads.push([doc, pod]);
    const podLabels = pod.metadata?.labels ?? {};
    if (doc.kind !== "Pod") {
      const missingTemplate = kTemplateLabels.filter((l) => !podLabels[l]);
      if (missingTemplate.length) {
        problem(`${at}/metadata/labels`, `pods miss the label(s) ${missingTemplate.join(", ")}`);
      }
    }
    const namespace = namespaceOf(doc);
    const sa = spec.serviceAccountName;
    if (!sa || sa === "default") {
      problem(`${at}/spec/serviceAccountName`, "pods must run under their own ServiceAccount, not default");
    } else if (!serviceAccounts.has(`${namespace}/${sa}`)) {
      problem(`${at}/spec/serviceAccountName`, `ServiceAccount ${sa} is not among the objects`);
    }
    const account = serviceAccounts.get(`${namespace}/${sa}`);
    if (spec.automountServiceAccountToken === true ||
        (spec.automountServiceAccountToken !== false && account?.automountServiceAccountToken !== false)) {
      problem(`${at}/spec/automountServiceAccountToken`, "must be false: the pods would get an API token");
    }
    const nsDoc = namespaces.get(namespace);
    const level = nsDoc ? nsDoc.metadata?.labels?.["pod-security.kubernetes.io/enforce"] ?? "privileged"
                        : "restricted";
    podSecurity(spec, `${at}/spec`, level, namespace, problem);
    for (const [kind, list] of [["initContainers", spec.initContainers], ["containers", spec.containers]]) {
      (list ?? []).forEach((c, i) => {
        const r = c.resources ?? {};
        const lacking = [
          !r.requests?.cpu && "requests.cpu", !r.requests?.memory && "requests.memory",
          !r.limits?.memory && "limits.memory",
        ].filter(Boolean);
        if (lacking.length) problem(`${at}/spec/${kind}/${i}/resources`, `no ${lacking.join(", ")}`);
      });
    }
    const restricted = policies.some((p) => namespaceOf(p) === namespace &&
      selects(p.spec?.podSelector?.matchLabels, podLabels) &&
      (p.spec?.policyTypes ?? ["Ingress"]).includes("Ingress"));
    if (!restricted) {
      problem(`${at}/metadata/labels`,
              "no NetworkPolicy selects these pods: anything in the cluster can reach their ports");
    }
  }

  for (const pdb of objects.filter((d) => d.kind === "PodDisruptionBudget")) {
    const problem = (path, message) => report(pdb, path, message);
    const selected = workloads.filter(([doc, pod]) => namespaceOf(doc) === namespaceOf(pdb) &&
      selects(pdb.spec?.selector?.matchLabels, pod.metadata?.labels));
    if (selected.length === 0) {
      problem("/spec/selector", "selects no workload among the objects");
      continue;
    }
    for (const [doc] of selected) {
      if (doc.kind === "DaemonSet" || doc.kind === "Job" || doc.kind === "CronJob") continue;
      const replicas = doc.spec?.replicas ?? 1;
      const { minAvailable, maxUnavailable } = pdb.spec ?? {};
      if (replicas <= 1) {
        problem("/spec", `protects nothing: ${doc.kind}/${doc.metadata?.name} has ${replicas} replica`);
      } else if ((typeof minAvailable === "number" && minAvailable >= replicas) ||
                 minAvailable === "100%" || maxUnavailable === 0 || maxUnavailable === "0%") {
        problem("/spec", `blocks every eviction of ${doc.kind}/${doc.metadata?.name} (${replicas} replicas): node drains hang`);
      }
    }
  }
}
