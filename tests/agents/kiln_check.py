#!/usr/bin/env python3
"""Checks what a real profiling agent pushed to Kiln, through querier.v1.

Usage: kiln_check.py EXPECT.json --url URL [--tenant ID] [--start-ms MS]

EXPECT.json describes one agent's service:
  {"service": "kiln.agents.go",
   "labels": {"agent": "pyroscope-go"},          # LabelValues must list these
   "profiles": [{"type": "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                 "functions": ["main.burnCPU"],   # substrings of flame-graph names
                 "min_total": 1e9, "max_total": 1e11}]}

For every profile type it asks ProfileTypes, SelectMergeStacktraces (names
and total) and SelectSeries (whose points must add up to the same total),
polling until the data is there or --timeout passes. Only the standard
library is used, so any python3 runs it. Exits 1 with every failure listed.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

QUERIER = "/querier.v1.QuerierService/"


class Kiln:
    """A Connect-JSON client for one server and tenant."""

    def __init__(self, url, tenant=None):
        self.url = url.rstrip("/")
        self.tenant = tenant

    def rpc(self, method, body):
        headers = {"Content-Type": "application/json"}
        if self.tenant:
            headers["X-Scope-OrgID"] = self.tenant
        req = urllib.request.Request(
            self.url + QUERIER + method, data=json.dumps(body).encode(), headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method}: HTTP {e.code}: {e.read().decode(errors='replace')}")


def flamegraph_names_and_total(kiln, profile_type, selector, start, end):
    out = kiln.rpc(
        "SelectMergeStacktraces",
        {"profileTypeID": profile_type, "labelSelector": selector, "start": start, "end": end, "maxNodes": 65536},
    )
    fg = out.get("flamegraph") or {}
    return fg.get("names") or [], int(fg.get("total") or 0)


def series_total(kiln, profile_type, selector, start, end):
    step = max(1.0, (end - start) / 1000 / 50)
    out = kiln.rpc(
        "SelectSeries",
        {"profileTypeID": profile_type, "labelSelector": selector, "start": start, "end": end, "step": step},
    )
    total = 0.0
    for series in out.get("series") or []:
        for point in series.get("points") or []:
            total += float(point.get("value") or 0)
    return total, len(out.get("series") or [])


def check_profile(kiln, service, spec, start, end, notes):
    """Returns a list of problems with one profile type (empty when fine)
    and appends what it saw to notes."""
    selector = '{service_name="%s"}' % service
    ptype = spec["type"]
    names, total = flamegraph_names_and_total(kiln, ptype, selector, start, end)
    problems = []
    for fn in spec.get("functions", []):
        if not any(fn in name for name in names):
            sample = sorted(names, key=len)[:40]
            problems.append(f"{ptype}: no flame-graph name contains {fn!r} (names: {sample})")
    lo, hi = spec.get("min_total", 1), spec.get("max_total", float("inf"))
    if not lo <= total <= hi:
        problems.append(f"{ptype}: total {total} outside the plausible range [{lo}, {hi}]")
    if spec.get("series", True) and total > 0:
        s_total, n = series_total(kiln, ptype, selector, start, end)
        if n == 0 or abs(s_total - total) > 0.01 * total + 1:
            problems.append(f"{ptype}: SelectSeries adds up to {s_total} in {n} series, flame graph says {total}")
    notes.append(f"  {ptype}: total {total}, {len(names)} names")
    return problems


def check(kiln, expect, start, end, notes):
    service = expect["service"]
    problems = []
    types = {t["ID"] for t in kiln.rpc("ProfileTypes", {"start": start, "end": end}).get("profileTypes") or []}
    services = kiln.rpc("LabelValues", {"name": "service_name", "start": start, "end": end}).get("names") or []
    if service not in services:
        return [f"service {service!r} not listed by LabelValues (got {services})"]
    for name, value in expect.get("labels", {}).items():
        values = kiln.rpc(
            "LabelValues",
            {"name": name, "matchers": ['{service_name="%s"}' % service], "start": start, "end": end},
        ).get("names") or []
        if value not in values:
            problems.append(f"label {name}={value!r} missing (LabelValues gave {values})")
    for spec in expect["profiles"]:
        if spec["type"] not in types:
            problems.append(f"profile type {spec['type']} missing (ProfileTypes gave {sorted(types)})")
            continue
        problems += check_profile(kiln, service, spec, start, end, notes)
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("expect")
    ap.add_argument("--url", required=True)
    ap.add_argument("--tenant")
    ap.add_argument("--start-ms", type=int, default=int(time.time() * 1000) - 3600_000)
    ap.add_argument("--timeout", type=float, default=20, help="seconds to wait for the data")
    args = ap.parse_args()
    with open(args.expect) as f:
        expect = json.load(f)
    kiln = Kiln(args.url, args.tenant)
    deadline = time.time() + args.timeout
    while True:
        end = int(time.time() * 1000) + 60_000
        notes = [f"{expect['service']}:"]
        try:
            problems = check(kiln, expect, args.start_ms, end, notes)
        except RuntimeError as e:
            problems = [str(e)]
        if not problems or time.time() > deadline:
            break
        time.sleep(1)
    print("\n".join(notes))
    for p in problems:
        print(f"FAIL {expect['service']}: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"ok {expect['service']}: {len(expect['profiles'])} profile types checked")


if __name__ == "__main__":
    main()
