#!/usr/bin/env node
// Asks a gRPC server what it serves through server reflection, as a user's tool would:
//   reflect.mjs ADDRESS VERSION          VERSION: v1 or v1alpha
// Prints one JSON object: {"services": [...], "methods": {service: [method, ...]},
// "missing": {symbol: error}} where `methods` come from the file descriptors the server
// sends for each service (with their imports) and `missing` is what a lookup of a symbol
// that does not exist answered. Exit 1 when reflection fails.
import grpc from "@grpc/grpc-js";
import reflection from "grpc-js-reflection-client";

const [address, version] = process.argv.slice(2);
if (!address || !["v1", "v1alpha"].includes(version)) {
  console.error("usage: reflect.mjs ADDRESS v1|v1alpha");
  process.exit(2);
}
const client = new reflection.GrpcReflection(address, grpc.credentials.createInsecure(), {},
                                             version);
try {
  const services = await client.listServices();
  const methods = {};
  for (const service of services) {
    methods[service] = (await client.listMethods(service)).map((m) => m.name).sort();
  }
  const missing = {};
  try {
    await client.getDescriptorBySymbol("rstmesh.v1.NoSuchService");
    missing["rstmesh.v1.NoSuchService"] = "found";
  } catch (error) {
    missing["rstmesh.v1.NoSuchService"] = String(error?.message ?? error);
  }
  console.log(JSON.stringify({ services: services.sort(), methods, missing }));
  process.exit(0);
} catch (error) {
  console.error(`reflect: ${error?.stack ?? error}`);
  process.exit(1);
}
