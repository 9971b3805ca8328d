// Connect-ES client of Kiln (@connectrpc/connect-node): pushes the shared
// fixture and checks every querier RPC Grafana uses, over the Connect
// protocol (binary on HTTP/1.1 and HTTP/2, JSON on HTTP/1.1), gRPC (HTTP/2)
// and gRPC-Web, with messages generated from Kiln's protos by
// protoc-gen-es.
//
// Usage: node client.js KILN_URL FIXTURE_JSON

import { readFileSync } from "node:fs";
import { create, toBinary, equals } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";

import { FunctionSchema, LocationSchema, ProfileSchema, SampleSchema } from "./gen/google/v1/profile_pb.js";
import { PushRequestSchema, PushResponseSchema, PusherService } from "./gen/push/v1/push_pb.js";
import { QuerierService } from "./gen/querier/v1/querier_pb.js";

/** The fixture's `variant` as a google.v1.Profile, built field by field. */
function buildProfile(spec, variant, timeNanos) {
  const table = [""];
  const index = new Map([["", 0n]]);
  const str = (s) => {
    if (!index.has(s)) {
      index.set(s, BigInt(table.length));
      table.push(s);
    }
    return index.get(s);
  };
  const profile = create(ProfileSchema, {
    sampleType: spec.sample_types.map(([type, unit]) => ({ type: str(type), unit: str(unit) })),
    periodType: { type: str(spec.period_type[0]), unit: str(spec.period_type[1]) },
    period: BigInt(spec.period),
    timeNanos,
    durationNanos: 10_000_000_000n,
  });
  const functionIds = new Map();
  for (const sample of spec.variants[variant]) {
    for (const name of sample.stack) {
      if (functionIds.has(name)) continue;
      const id = BigInt(functionIds.size + 1);
      functionIds.set(name, id);
      profile.function.push(create(FunctionSchema, { id, name: str(name), systemName: str(name) }));
      profile.location.push(create(LocationSchema, { id, address: 0x1000n * id, line: [{ functionId: id, line: id }] }));
    }
    profile.sample.push(
      create(SampleSchema, {
        // pprof stacks are leaf first; the fixture's are root first.
        locationId: [...sample.stack].reverse().map((name) => functionIds.get(name)),
        value: sample.values.map(BigInt),
      }),
    );
  }
  profile.stringTable = table;
  return toBinary(ProfileSchema, profile);
}

/**
 * Decodes delta-encoded levels of `width`-tuples (4: flame graph, 7: diff)
 * into sorted "stack value…" lines, root excluded.
 */
function decodeLevels(levels, names, width) {
  const offsetSlots = width === 4 ? [0] : [0, 3];
  const valueSlots = width === 4 ? [1, 2] : [1, 2, 4, 5];
  const out = [];
  let parents = [];
  levels.forEach((level, depth) => {
    const v = level.values.map(Number);
    if (v.length % width !== 0) throw new Error(`level ${depth} is not ${width}-tuples`);
    const prev = {};
    const nodes = [];
    for (let i = 0; i < v.length; i += width) {
      const t = v.slice(i, i + width);
      const start = {};
      for (const s of offsetSlots) {
        start[s] = (prev[s] ?? 0) + t[s];
        prev[s] = start[s] + t[s + 1];
      }
      let stack = "";
      if (depth > 0) {
        const parent = parents.find((p) =>
          offsetSlots.some(
            (s) => t[s + 1] !== 0 && p.start[s] <= start[s] && start[s] + t[s + 1] <= p.start[s] + p.t[s + 1],
          ),
        );
        if (!parent) throw new Error(`level ${depth}: no parent holds node ${t}`);
        stack = parent.stack ? `${parent.stack};${names[t[width - 1]]}` : names[t[width - 1]];
        out.push([stack, ...valueSlots.map((s) => String(t[s]))].join(" "));
      }
      nodes.push({ start, t, stack });
    }
    parents = nodes;
  });
  return out.sort();
}

/**
 * A google.v1.Profile as {sample_types, period_type, samples: sorted
 * "root;…;leaf value"}, resolving locations → functions → strings.
 */
function summarizeProfile(profile) {
  const strings = profile.stringTable;
  const names = new Map(profile.function.map((f) => [f.id, strings[Number(f.name)]]));
  const frames = new Map(profile.location.map((l) => [l.id, names.get(l.line[0].functionId)]));
  const pair = (t) => [strings[Number(t.type)], strings[Number(t.unit)]];
  return {
    sample_types: profile.sampleType.map(pair),
    period_type: pair(profile.periodType),
    samples: profile.sample
      .map((s) => `${[...s.locationId].reverse().map((id) => frames.get(id)).join(";")} ${s.value.join(" ")}`)
      .sort(),
  };
}

class Checks {
  constructor(label) {
    this.label = label;
    this.passed = 0;
  }
  equal(what, got, want) {
    const g = JSON.stringify(got, (_, v) => (typeof v === "bigint" ? Number(v) : v));
    const w = JSON.stringify(want);
    if (g !== w) throw new Error(`${this.label}: ${what}: got ${g}, want ${w}`);
    this.passed++;
    console.log(`ok   ${this.label} ${what}`);
  }
}

async function run(transport, label, fixture) {
  const { profile: spec, expected } = fixture;
  const service = `protocols-${label.replaceAll("/", "-")}`;
  const pusher = createClient(PusherService, transport);
  const querier = createClient(QuerierService, transport);
  const check = new Checks(label);
  const opts = { timeoutMs: 10_000 };

  const nowMs = Date.now();
  const push = create(PushRequestSchema, {
    series: Object.keys(spec.variants).map((variant) => ({
      labels: [
        { name: "__name__", value: spec.name },
        { name: "service_name", value: service },
        { name: "variant", value: variant },
      ],
      samples: [{ rawProfile: buildProfile(spec, variant, BigInt(nowMs) * 1_000_000n) }],
    })),
  });
  const reply = await pusher.push(push, opts);
  check.equal("Push reply", equals(PushResponseSchema, reply, create(PushResponseSchema)), true);

  const start = BigInt(nowMs - 3_600_000);
  const end = BigInt(nowMs + 60_000);
  const selector = `{service_name="${service}"}`;

  // Pushes are durable when acknowledged, but label reads may go through
  // caches: wait (bounded) until the service is listed.
  let listed = false;
  for (const deadline = Date.now() + 15_000; !listed && Date.now() < deadline; ) {
    const values = await querier.labelValues({ name: "service_name", start, end }, opts);
    listed = values.names.includes(service);
    if (!listed) await new Promise((r) => setTimeout(r, 100));
  }
  check.equal("LabelValues(service_name) lists the service", listed, true);

  const types = await querier.profileTypes({ start, end }, opts);
  check.equal(
    "ProfileTypes",
    types.profileTypes.map((t) => ({
      ID: t.ID,
      name: t.name,
      sample_type: t.sampleType,
      sample_unit: t.sampleUnit,
      period_type: t.periodType,
      period_unit: t.periodUnit,
    })),
    expected.profile_types,
  );

  const names = await querier.labelNames({ matchers: [selector], start, end }, opts);
  check.equal("LabelNames", names.names, expected.label_names);

  const variants = await querier.labelValues({ name: "variant", matchers: [selector], start, end }, opts);
  check.equal("LabelValues(variant)", variants.names, expected.variant_values);

  const series = await querier.selectSeries(
    {
      profileTypeID: expected.query_profile_type,
      labelSelector: selector,
      start,
      end,
      step: 60,
      groupBy: ["variant"],
    },
    opts,
  );
  const gotSeries = {};
  for (const s of series.series) {
    const variant = s.labels.find((l) => l.name === "variant")?.value ?? "?";
    gotSeries[variant] = s.points.map((p) => p.value).filter((v) => v !== 0);
  }
  const wantSeries = {};
  for (const key of Object.keys(gotSeries).sort()) wantSeries[key] = [expected.series_by_variant[key]];
  check.equal("SelectSeries variants", Object.keys(gotSeries).sort(), Object.keys(expected.series_by_variant).sort());
  check.equal("SelectSeries by variant", gotSeries, wantSeries);

  const merged = await querier.selectMergeStacktraces(
    { profileTypeID: expected.query_profile_type, labelSelector: selector, start, end },
    opts,
  );
  const fg = merged.flamegraph;
  check.equal("SelectMergeStacktraces total", fg.total, expected.flamegraph.total);
  check.equal("SelectMergeStacktraces max_self", fg.maxSelf, expected.flamegraph.max_self);
  check.equal("SelectMergeStacktraces nodes", decodeLevels(fg.levels, fg.names, 4), expected.flamegraph.nodes);

  const pprof = await querier.selectMergeProfile(
    { profileTypeID: expected.query_profile_type, labelSelector: selector, start, end },
    opts,
  );
  check.equal("SelectMergeProfile pprof", summarizeProfile(pprof), expected.merge_profile);

  const side = (variant) => ({
    profileTypeID: expected.query_profile_type,
    labelSelector: `{service_name="${service}",variant="${variant}"}`,
    start,
    end,
  });
  const diff = (await querier.diff({ left: side("before"), right: side("after") }, opts)).flamegraph;
  check.equal("Diff leftTicks", diff.leftTicks, expected.diff.left_ticks);
  check.equal("Diff rightTicks", diff.rightTicks, expected.diff.right_ticks);
  check.equal("Diff total", diff.total, expected.diff.total);
  check.equal("Diff max_self", diff.maxSelf, expected.diff.max_self);
  check.equal("Diff nodes", decodeLevels(diff.levels, diff.names, 7), expected.diff.nodes);

  // A wrong request must come back as a status the client understands.
  let code = Code[0];
  try {
    await querier.selectMergeStacktraces(
      { profileTypeID: "not-a-type", labelSelector: selector, start, end },
      opts,
    );
  } catch (err) {
    code = Code[ConnectError.from(err).code];
  }
  check.equal("bad profile type is InvalidArgument", code, Code[Code.InvalidArgument]);
  return check.passed;
}

async function main() {
  const [url, fixturePath] = process.argv.slice(2);
  if (!url || !fixturePath) throw new Error("usage: node client.js KILN_URL FIXTURE_JSON");
  const fixture = JSON.parse(readFileSync(fixturePath, "utf8"));
  const runs = [
    ["node-connect/connect-proto-http1", createConnectTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["node-connect/connect-json-http1", createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: false })],
    ["node-connect/connect-proto-http2", createConnectTransport({ baseUrl: url, httpVersion: "2" })],
    ["node-connect/connect-gzip-http2", createConnectTransport({ baseUrl: url, httpVersion: "2", sendCompression: compressionGzip })],
    ["node-connect/grpc", createGrpcTransport({ baseUrl: url })],
    ["node-connect/grpc-web", createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["node-connect/grpc-web-json-http2", createGrpcWebTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: false })],
  ];
  let passed = 0;
  for (const [label, transport] of runs) {
    passed += await run(transport, label, fixture);
  }
  const version = JSON.parse(
    readFileSync(new URL("../node_modules/@connectrpc/connect-node/package.json", import.meta.url), "utf8"),
  ).version;
  console.log(`node connect-node ${version}: ${passed} passed, 0 failed`);
}

main().catch((err) => {
  console.error("FAIL", err);
  process.exit(1);
});
