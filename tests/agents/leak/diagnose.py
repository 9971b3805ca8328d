#!/usr/bin/env python3
"""Diagnoses the gRPC-connection leak from what Kiln stores, as a person would.

Usage: diagnose.py --url URL --service NAME --start S --end S
                   [--window S] [--expect growth|flat]

Compares the first and the last --window seconds of [start, end] (Unix
seconds) of the service's `inuse_space` profiles:
  * Diff (querier.v1) of the two windows: the share of in-use bytes under
    any google.golang.org/grpc frame on each side, and the functions whose
    share grew most;
  * SelectMergeProfile of each window: the same share recomputed from the
    pprof stacks (must agree with the Diff);
  * SelectSeries (AVERAGE): the service's total in-use bytes over time.
With --expect growth the gRPC share must grow by at least --min-growth
(absolute, 0.10 = ten points); with --expect flat it must not grow by more
than --max-flat. Exits 1 when the expectation fails. Standard library only.
"""

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

INUSE = "memory:inuse_space:bytes:space:bytes"
GRPC = "google.golang.org/grpc"


def rpc(url, method, body):
    req = urllib.request.Request(
        f"{url}/querier.v1.QuerierService/{method}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        sys.exit(f"{method}: HTTP {e.code}: {e.read().decode(errors='replace')}")


def side(service, start_s, end_s):
    return {
        "profileTypeID": INUSE,
        "labelSelector": '{service_name="%s"}' % service,
        "start": int(start_s * 1000),
        "end": int(end_s * 1000),
        "maxNodes": 65536,
    }


def diff_nodes(flamegraph):
    """Yields (name, left_x, left_total, left_self, right_x, right_total, right_self)
    for every node of a FlameGraphDiff, with absolute offsets (the wire
    format stores each node's offset relative to the previous node's end)."""
    names = flamegraph["names"]
    for level in flamegraph["levels"]:
        v = [int(x) for x in level.get("values") or []]
        left_end = right_end = 0
        for i in range(0, len(v), 7):
            lx = left_end + v[i]
            rx = right_end + v[i + 3]
            left_end, right_end = lx + v[i + 1], rx + v[i + 4]
            yield names[v[i + 6]], lx, v[i + 1], v[i + 2], rx, v[i + 4], v[i + 5]


def covered(intervals):
    """Length of the union of [x, x+w) intervals: the value of all stacks
    through any matching frame, each stack counted once."""
    total, reach = 0, 0
    for x, w in sorted(intervals):
        end = x + w
        if end > reach:
            total += end - max(x, reach)
            reach = end
    return total


def diff_shares(url, service, first, last):
    fg = rpc(url, "Diff", {"left": side(service, *first), "right": side(service, *last)})["flamegraph"]
    left_total, right_total = int(fg["leftTicks"]), int(fg["rightTicks"])
    left_iv, right_iv = [], []
    by_name = {}
    for name, lx, lt, _ls, rx, rt, _rs in diff_nodes(fg):
        if GRPC in name:
            left_iv.append((lx, lt))
            right_iv.append((rx, rt))
        if name != "total":
            sides = by_name.setdefault(name, ([], []))
            sides[0].append((lx, lt))
            sides[1].append((rx, rt))
    grpc_left = covered(left_iv) / left_total if left_total else 0.0
    grpc_right = covered(right_iv) / right_total if right_total else 0.0
    growth = []
    for name, (liv, riv) in by_name.items():
        before = covered(liv) / left_total if left_total else 0.0
        after = covered(riv) / right_total if right_total else 0.0
        growth.append((after - before, name, before, after))
    growth.sort(reverse=True)
    return grpc_left, grpc_right, left_total, right_total, growth


def pprof_share(url, service, window):
    """Share of in-use bytes under a gRPC frame, from the merged pprof."""
    prof = rpc(url, "SelectMergeProfile", side(service, *window))
    strings = prof.get("stringTable") or []
    fn_name = {f["id"]: strings[int(f.get("name") or 0)] for f in prof.get("function") or []}
    loc_grpc = {
        loc["id"]: any(GRPC in fn_name.get(line.get("functionId"), "") for line in loc.get("line") or [])
        for loc in prof.get("location") or []
    }
    total = grpc = 0
    for sample in prof.get("sample") or []:
        value = int((sample.get("value") or ["0"])[0])
        total += value
        if any(loc_grpc.get(loc) for loc in sample.get("locationId") or []):
            grpc += value
    return grpc / total if total else 0.0


def inuse_series(url, service, start, end, step):
    body = side(service, start, end)
    body.update(step=step, aggregation="TIME_SERIES_AGGREGATION_TYPE_AVERAGE")
    body.pop("maxNodes")
    series = rpc(url, "SelectSeries", body).get("series") or []
    points = sorted(
        (int(p["timestamp"]), float(p.get("value") or 0)) for s in series for p in s.get("points") or []
    )
    return points


def mib(v):
    return f"{v / (1 << 20):.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--start", type=float, required=True, help="Unix seconds")
    ap.add_argument("--end", type=float, required=True, help="Unix seconds")
    ap.add_argument("--window", type=float, default=10)
    ap.add_argument("--expect", choices=["growth", "flat"])
    ap.add_argument("--min-growth", type=float, default=0.10)
    ap.add_argument("--max-flat", type=float, default=0.05)
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()

    first = (args.start, args.start + args.window)
    last = (args.end - args.window, args.end)
    left, right, left_total, right_total, growth = diff_shares(args.url, args.service, first, last)
    p_left, p_right = pprof_share(args.url, args.service, first), pprof_share(args.url, args.service, last)
    points = inuse_series(args.url, args.service, args.start, args.end, max(1.0, args.window / 2))

    print(f"{args.service}: in-use memory (inuse_space), first vs last {args.window:.0f} s")
    if points:
        print(f"  total in use (SelectSeries avg): {mib(points[0][1])} at start -> {mib(points[-1][1])} at end")
    print(f"  share under {GRPC}: {left:.1%} -> {right:.1%} (Diff); {p_left:.1%} -> {p_right:.1%} (pprof)")
    print("  functions whose share of in-use bytes (inclusive) grew most:")
    for delta, name, before, after in growth[: args.top]:
        if delta <= 0:
            break
        print(f"    {delta:+7.1%}  {before:6.1%} -> {after:6.1%}  {name}")
    q = urllib.parse.quote('%s{service_name="%s"}' % (INUSE, args.service))
    ui = urllib.parse.urlencode(
        {
            "view": "diff",
            "service": args.service,
            "type": INUSE,
            "from": int((args.start - 5) * 1000),
            "until": int((args.end + 5) * 1000),
            "lfrom": int(first[0] * 1000),
            "luntil": int(first[1] * 1000),
            "rfrom": int(last[0] * 1000),
            "runtil": int(last[1] * 1000),
        }
    )
    print(f"  open the diff in Kiln's UI: {args.url}/?{ui}")
    print(
        "  or as flamebearer JSON: "
        f"{args.url}/pyroscope/render-diff?leftQuery={q}&leftFrom={int(first[0])}&leftUntil={int(first[1])}"
        f"&rightQuery={q}&rightFrom={int(last[0])}&rightUntil={int(last[1])}"
    )

    problems = []
    if left_total == 0 or right_total == 0:
        problems.append("one of the windows has no inuse_space data")
    if abs(left - p_left) > 0.01 or abs(right - p_right) > 0.01:
        problems.append(f"Diff and SelectMergeProfile disagree: {left:.3f}/{right:.3f} vs {p_left:.3f}/{p_right:.3f}")
    if args.expect == "growth" and right - left < args.min_growth:
        problems.append(f"gRPC share grew by {right - left:.1%}, expected at least {args.min_growth:.0%}")
    if args.expect == "flat" and right - left > args.max_flat:
        problems.append(f"gRPC share grew by {right - left:.1%} with the fix, expected at most {args.max_flat:.0%}")
    for p in problems:
        print(f"FAIL {args.service}: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    if args.expect:
        print(f"ok {args.service}: gRPC share {left:.1%} -> {right:.1%} ({args.expect})")


if __name__ == "__main__":
    main()
