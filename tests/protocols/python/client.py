"""Python grpcio client of Kiln: pushes the shared fixture over gRPC (plain
and gzip-compressed) with stubs generated from Kiln's protos by
grpc_tools.protoc (see generate.py), then checks every querier RPC Grafana
uses against fixture.json's expected answers.

Usage: python client.py KILN_URL FIXTURE_JSON
"""

import json
import pathlib
import sys
import time
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "gen"))

import grpc  # noqa: E402
from kilnpb.google.v1 import profile_pb2  # noqa: E402
from kilnpb.push.v1 import push_pb2, push_pb2_grpc  # noqa: E402
from kilnpb.querier.v1 import querier_pb2, querier_pb2_grpc  # noqa: E402
from kilnpb.types.v1 import types_pb2  # noqa: E402


class Strings:
    """A pprof string table: index 0 is the empty string."""

    def __init__(self):
        self.table = [""]
        self.index = {"": 0}

    def __call__(self, s):
        if s not in self.index:
            self.index[s] = len(self.table)
            self.table.append(s)
        return self.index[s]


def build_profile(spec, variant, time_nanos):
    """The fixture's `variant` as a google.v1.Profile, built field by field."""
    strings = Strings()
    profile = profile_pb2.Profile()
    for kind, unit in spec["sample_types"]:
        profile.sample_type.add(type=strings(kind), unit=strings(unit))
    profile.period_type.type = strings(spec["period_type"][0])
    profile.period_type.unit = strings(spec["period_type"][1])
    profile.period = spec["period"]
    profile.time_nanos = time_nanos
    profile.duration_nanos = 10_000_000_000
    function_ids = {}
    for sample in spec["variants"][variant]:
        for name in sample["stack"]:
            if name not in function_ids:
                fid = len(function_ids) + 1
                function_ids[name] = fid
                profile.function.add(id=fid, name=strings(name), system_name=strings(name))
                location = profile.location.add(id=fid, address=0x1000 * fid)
                location.line.add(function_id=fid, line=fid)
        # pprof stacks are leaf first; the fixture's are root first.
        profile.sample.add(
            location_id=[function_ids[name] for name in reversed(sample["stack"])],
            value=sample["values"],
        )
    profile.string_table.extend(strings.table)
    return profile.SerializeToString()


def decode_flamegraph(levels, names, width):
    """Decodes delta-encoded levels of `width`-tuples (4 for a flame graph,
    7 for a diff) into ["stack v1 v2 …"], skipping the root. Offsets come in
    one pair (x at 0) for 4-tuples and two (x at 0 and 3) for 7-tuples."""
    offset_slots = [0] if width == 4 else [0, 3]
    value_slots = [1, 2] if width == 4 else [1, 2, 4, 5]
    nodes_by_level = []
    for level in levels:
        values = list(level.values)
        assert len(values) % width == 0, f"level of {len(values)} values is not {width}-tuples"
        prev = {slot: 0 for slot in offset_slots}
        nodes = []
        for i in range(0, len(values), width):
            t = values[i : i + width]
            starts = {}
            for slot in offset_slots:
                starts[slot] = prev[slot] + t[slot]
                prev[slot] = starts[slot] + t[slot + 1]
            nodes.append((starts, t, names[t[width - 1]]))
        nodes_by_level.append(nodes)
    out = []
    paths = {}
    for depth, nodes in enumerate(nodes_by_level):
        for index, (starts, t, name) in enumerate(nodes):
            if depth == 0:
                paths[(0, index)] = ""
                continue
            parent = find_parent(nodes_by_level[depth - 1], starts, t, offset_slots)
            stack = paths[(depth - 1, parent)]
            stack = f"{stack};{name}" if stack else name
            paths[(depth, index)] = stack
            out.append(" ".join([stack, *(str(t[s]) for s in value_slots)]))
    return sorted(out)


def summarize_profile(profile):
    """A google.v1.Profile as {sample_types, period_type, samples: sorted
    "root;…;leaf value"}, resolving locations → functions → strings."""
    strings = list(profile.string_table)
    names = {f.id: strings[f.name] for f in profile.function}
    frames = {loc.id: names[loc.line[0].function_id] for loc in profile.location}
    return {
        "sample_types": [[strings[t.type], strings[t.unit]] for t in profile.sample_type],
        "period_type": [strings[profile.period_type.type], strings[profile.period_type.unit]],
        "samples": sorted(
            ";".join(frames[i] for i in reversed(s.location_id)) + " " + " ".join(map(str, s.value))
            for s in profile.sample
        ),
    }


def find_parent(parents, starts, t, offset_slots):
    """The parent whose box holds this node on a side where it is non-empty."""
    for slot in offset_slots:
        if t[slot + 1] == 0:
            continue
        for index, (pstarts, pt, _) in enumerate(parents):
            if pstarts[slot] <= starts[slot] and starts[slot] + t[slot + 1] <= pstarts[slot] + pt[slot + 1]:
                return index
    raise AssertionError(f"no parent for node {t}")


class Checks:
    def __init__(self, label):
        self.label = label
        self.passed = 0

    def equal(self, what, got, want):
        if got != want:
            raise AssertionError(f"{self.label}: {what}: got {got!r}, want {want!r}")
        self.passed += 1
        print(f"ok   {self.label} {what}")


def run(channel, label, fixture, compression=None):
    spec, expected = fixture["profile"], fixture["expected"]
    service = f"protocols-python-{label}"
    pusher = push_pb2_grpc.PusherServiceStub(channel)
    querier = querier_pb2_grpc.QuerierServiceStub(channel)
    check = Checks(f"python/{label}")

    now_ns = time.time_ns()
    request = push_pb2.PushRequest()
    for variant in spec["variants"]:
        series = request.series.add()
        for name, value in [
            ("__name__", spec["name"]),
            ("service_name", service),
            ("variant", variant),
        ]:
            series.labels.add(name=name, value=value)
        series.samples.add(raw_profile=build_profile(spec, variant, now_ns))
    reply = pusher.Push(request, compression=compression, timeout=10)
    check.equal("Push reply", reply, push_pb2.PushResponse())

    start, end = now_ns // 1_000_000 - 3_600_000, now_ns // 1_000_000 + 60_000
    selector = f'{{service_name="{service}"}}'

    # Pushes are durable when acknowledged, but label reads may go through
    # caches: wait (bounded) until the service is listed.
    deadline = time.monotonic() + 15
    while True:
        values = querier.LabelValues(
            types_pb2.LabelValuesRequest(name="service_name", start=start, end=end), timeout=10
        ).names
        if service in values or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check.equal("LabelValues(service_name) lists the service", service in values, True)

    types = querier.ProfileTypes(querier_pb2.ProfileTypesRequest(start=start, end=end), timeout=10)
    got_types = [
        {
            "ID": t.ID,
            "name": t.name,
            "sample_type": t.sample_type,
            "sample_unit": t.sample_unit,
            "period_type": t.period_type,
            "period_unit": t.period_unit,
        }
        for t in types.profile_types
    ]
    check.equal("ProfileTypes", got_types, expected["profile_types"])

    names = querier.LabelNames(
        types_pb2.LabelNamesRequest(matchers=[selector], start=start, end=end), timeout=10
    ).names
    check.equal("LabelNames", list(names), expected["label_names"])

    variants = querier.LabelValues(
        types_pb2.LabelValuesRequest(name="variant", matchers=[selector], start=start, end=end),
        timeout=10,
    ).names
    check.equal("LabelValues(variant)", list(variants), expected["variant_values"])

    series = querier.SelectSeries(
        querier_pb2.SelectSeriesRequest(
            profile_typeID=expected["query_profile_type"],
            label_selector=selector,
            start=start,
            end=end,
            step=60.0,
            group_by=["variant"],
        ),
        timeout=10,
    ).series
    got_series = {}
    for s in series:
        labels = {l.name: l.value for l in s.labels}
        nonzero = [p.value for p in s.points if p.value != 0]
        got_series[labels.get("variant", "?")] = nonzero
    check.equal(
        "SelectSeries by variant",
        got_series,
        {k: [float(v)] for k, v in expected["series_by_variant"].items()},
    )

    merged = querier.SelectMergeStacktraces(
        querier_pb2.SelectMergeStacktracesRequest(
            profile_typeID=expected["query_profile_type"],
            label_selector=selector,
            start=start,
            end=end,
        ),
        timeout=10,
    ).flamegraph
    want = expected["flamegraph"]
    check.equal("SelectMergeStacktraces total", merged.total, want["total"])
    check.equal("SelectMergeStacktraces max_self", merged.max_self, want["max_self"])
    check.equal(
        "SelectMergeStacktraces nodes",
        decode_flamegraph(merged.levels, merged.names, 4),
        want["nodes"],
    )

    pprof = querier.SelectMergeProfile(
        querier_pb2.SelectMergeProfileRequest(
            profile_typeID=expected["query_profile_type"],
            label_selector=selector,
            start=start,
            end=end,
        ),
        timeout=10,
    )
    check.equal("SelectMergeProfile pprof", summarize_profile(pprof), expected["merge_profile"])

    def side(variant):
        return querier_pb2.SelectMergeStacktracesRequest(
            profile_typeID=expected["query_profile_type"],
            label_selector=f'{{service_name="{service}",variant="{variant}"}}',
            start=start,
            end=end,
        )

    diff = querier.Diff(
        querier_pb2.DiffRequest(left=side("before"), right=side("after")), timeout=10
    ).flamegraph
    want = expected["diff"]
    check.equal("Diff leftTicks", diff.leftTicks, want["left_ticks"])
    check.equal("Diff rightTicks", diff.rightTicks, want["right_ticks"])
    check.equal("Diff total", diff.total, want["total"])
    check.equal("Diff max_self", diff.max_self, want["max_self"])
    check.equal("Diff nodes", decode_flamegraph(diff.levels, diff.names, 7), want["nodes"])

    # A wrong request must come back as a gRPC status, not a transport error.
    try:
        querier.SelectMergeStacktraces(
            querier_pb2.SelectMergeStacktracesRequest(
                profile_typeID="not-a-type", label_selector=selector, start=start, end=end
            ),
            timeout=10,
        )
        code = grpc.StatusCode.OK
    except grpc.RpcError as err:
        code = err.code()
    check.equal("bad profile type is INVALID_ARGUMENT", code, grpc.StatusCode.INVALID_ARGUMENT)
    return check.passed


def main():
    url, fixture_path = sys.argv[1], sys.argv[2]
    fixture = json.loads(pathlib.Path(fixture_path).read_text())
    target = urllib.parse.urlparse(url).netloc
    passed = 0
    with grpc.insecure_channel(target) as channel:
        passed += run(channel, "grpc", fixture)
        passed += run(channel, "grpc-gzip", fixture, compression=grpc.Compression.Gzip)
    print(f"python grpcio {grpc.__version__}: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
