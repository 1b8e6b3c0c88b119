#!/usr/bin/env node
// Validates Kubernetes objects offline, as an API server would before storing them:
//   - types, required fields, enums and formats against the Kubernetes OpenAPI schemas
//     (kubernetes-models' compiled validators);
//   - unknown fields, which the schemas allow but the API server drops or refuses
//     (kubectl apply --validate=strict): every key must be one the API type declares
//     (@kubernetes/client-node's field lists of the same types).
//
//   - with --conventions, the conventions rstmesh's manifests keep on the whole set
//     (conventions.mjs: Pod Security level, ServiceAccounts, NetworkPolicies, labels,
//     resources, appProtocol, PodDisruptionBudgets).
// Kinds of the Prometheus Operator (monitoring.coreos.com) are checked against its CRDs'
// schemas (@kubernetes-models/prometheus-operator).
//
// usage: validate.mjs [--conventions] [FILE...]     (no FILE or "-": reads standard input)
// Reads multi-document YAML (what `kubectl kustomize` prints). Prints one line per problem,
// "SOURCE: Kind/name: /path: message", and exits 1 if there is any; otherwise prints
// "N objects valid" and exits 0. Exit 2: unreadable input.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import yaml from "js-yaml";
import * as k8s from "@kubernetes/client-node";
import { checkConventions } from "./conventions.mjs";

const require = createRequire(import.meta.url);

// "apps/v1" -> kubernetes-models/apps/v1; "v1" -> kubernetes-models/v1.
function modelClass(apiVersion, kind) {
  const slash = apiVersion.lastIndexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  const packages = { "monitoring.coreos.com": "@kubernetes-models/prometheus-operator/" };
  let module;
  try {
    module = require(`${packages[group] ?? "kubernetes-models/"}${group ? group + "/" : ""}${version}`);
  } catch {
    return undefined;
  }
  return module[kind];
}

// The client's type for apiVersion/kind: apps/v1 DaemonSet -> V1DaemonSet.
function clientTypeName(apiVersion, kind) {
  const version = apiVersion.slice(apiVersion.lastIndexOf("/") + 1);
  const name = version.charAt(0).toUpperCase() + version.slice(1) + kind;
  return typeof k8s[name]?.getAttributeTypeMap === "function" ? name : undefined;
}

// Walks `value` as the client type `type` ("V1PodSpec", "Array<V1Container>",
// "{ [key: string]: string; }", "string", ...), reporting keys the type does not declare.
function unknownFields(value, type, path, report) {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1], `${path}/${i}`, report));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${path}/${k}`, report);
    }
    return;
  }
  const model = k8s[type];
  if (typeof model?.getAttributeTypeMap !== "function") return;  // scalar, IntOrString, any
  if (typeof value !== "object" || Array.isArray(value)) return;  // the schema check reports it
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) {
      const known = [...fields.keys()];
      const near = known.find((f) => f.toLowerCase() === k.toLowerCase()) ?? closest(k, known);
      report(`${path}/${k}`, `unknown field "${k}" in ${type.replace(/^V\d+(beta\d+|alpha\d+)?/, "")}` +
        (near ? ` (did you mean "${near}"?)` : ""));
      continue;
    }
    unknownFields(v, fields.get(k), `${path}/${k}`, report);
  }
}

// The known field within edit distance 2 of `name`, if one is.
function closest(name, known) {
  let best, bestDistance = 3;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function distance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; ++i) {
    const next = [i];
    for (let j = 1; j <= b.length; ++j) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

function validate(doc, source, report) {
  const where = (path, message) =>
    report(`${source}: ${doc?.kind ?? "?"}/${doc?.metadata?.name ?? "?"}: ${path || "/"}: ${message}`);
  if (typeof doc !== "object" || Array.isArray(doc)) {
    where("", "not a Kubernetes object (a mapping with apiVersion and kind)");
    return;
  }
  if (typeof doc.apiVersion !== "string" || typeof doc.kind !== "string") {
    where("", "apiVersion and kind are required");
    return;
  }
  const Model = modelClass(doc.apiVersion, doc.kind);
  const clientType = clientTypeName(doc.apiVersion, doc.kind);
  if (!Model) {
    where("/kind", `unknown kind ${doc.kind} in ${doc.apiVersion}`);
    return;
  }
  try {
    new Model(doc).validate();
  } catch (error) {
    for (const e of error.errors ?? [{ instancePath: "", message: error.message }]) {
      const extra = e.params?.missingProperty ? ` (${e.params.missingProperty})`
        : e.params?.allowedValues ? ` (${e.params.allowedValues.join(", ")})` : "";
      where(e.instancePath, e.message + extra);
    }
  }
  // The client knows the built-in kinds' fields; a custom resource's schema is all there is.
  if (clientType) unknownFields(doc, clientType, "", where);
}

function describe(doc, source) {
  return `${source}: ${doc?.kind ?? "?"}/${doc?.metadata?.name ?? "?"}`;
}

const args = process.argv.slice(2);
const conventions = args.includes("--conventions");
const sources = args.filter((a) => a !== "--conventions");
if (sources.length === 0) sources.push("-");
const problems = [];
let objects = 0;
const all = [];  // [doc, source]
for (const source of sources) {
  let text;
  try {
    text = readFileSync(source === "-" ? 0 : source, "utf8");
  } catch (error) {
    console.error(`validate: cannot read ${source}: ${error.message}`);
    process.exit(2);
  }
  let docs;
  try {
    docs = yaml.loadAll(text);
  } catch (error) {
    console.error(`validate: ${source}: not YAML: ${error.message}`);
    process.exit(2);
  }
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    ++objects;
    validate(doc, source === "-" ? "stdin" : source, (line) => problems.push(line));
    all.push([doc, source === "-" ? "stdin" : source]);
  }
}
if (conventions) {
  const sourceOf = new Map(all);
  checkConventions(all.map(([doc]) => doc), (doc, path, message) =>
    problems.push(`${describe(doc, sourceOf.get(doc))}: ${path || "/"}: ${message}`));
}
for (const line of problems) console.log(line);
if (problems.length > 0) {
  console.log(`${problems.length} problem(s) in ${objects} objects`);
  process.exit(1);
}
console.log(`${objects} objects valid${conventions ? ", conventions kept" : ""}`);
