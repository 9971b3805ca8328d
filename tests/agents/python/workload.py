"""A small workload profiled by the real pyroscope-io agent (1.x or 0.8.x).

Environment: KILN_URL, SERVICE (application name), AGENT_TAG (value of the
`agent` tag), DURATION (seconds, default 20). Options only the 1.x agent
knows (mem_enabled, upload_interval) are passed when its configure() takes
them, so the same file drives both agent generations.
"""

import hashlib
import inspect
import os
import time

import pyroscope

# Kept alive so the 1.x memory profiler sees in-use allocations.
retained = []


def burn_cpu(deadline):
    digest = b"kiln"
    while time.time() < deadline:
        for _ in range(2000):
            digest = hashlib.sha256(digest).digest()
        allocate_memory()


def allocate_memory():
    retained.append(bytearray(256 * 1024))
    if len(retained) > 64:
        retained.pop(0)


def main():
    duration = float(os.environ.get("DURATION", "20"))
    options = dict(
        application_name=os.environ["SERVICE"],
        server_address=os.environ["KILN_URL"],
        basic_auth_username="kiln-user",
        basic_auth_password="kiln-password",
        enable_logging=True,
        tags={"agent": os.environ["AGENT_TAG"], "env": "ci"},
    )
    accepted = inspect.signature(pyroscope.configure).parameters
    if "mem_enabled" in accepted:
        options.update(mem_enabled=True, upload_interval=5, mem_heap_sample_size=64 * 1024)
    pyroscope.configure(**options)
    burn_cpu(time.time() + duration)
    pyroscope.shutdown()
    print(f"{os.environ['SERVICE']}: done")


if __name__ == "__main__":
    main()
