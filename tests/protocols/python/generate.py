"""Generates the grpcio stubs of Kiln's protos into python/gen/kilnpb.

grpc_tools.protoc names Python modules after the proto paths, and
`types.v1` cannot be imported under that name: `types` is a standard-library
module. So the generated imports of our four packages are moved under one
package, `kilnpb` (`from types.v1 import …` → `from kilnpb.types.v1 import …`).
The descriptors themselves are untouched: file names and message names stay
`types/v1/types.proto` and `types.v1.*`.

Usage: python generate.py PROTO_ROOT
"""

import pathlib
import re
import shutil
import sys

from grpc_tools import protoc

PROTOS = [
    "push/v1/push.proto",
    "querier/v1/querier.proto",
    "types/v1/types.proto",
    "google/v1/profile.proto",
]
OUR_IMPORT = re.compile(r"^from (push|querier|types|google)\.v1 import ", re.M)


def main() -> None:
    proto_root = pathlib.Path(sys.argv[1]).resolve()
    gen = pathlib.Path(__file__).resolve().parent / "gen"
    out = gen / "kilnpb"
    shutil.rmtree(gen, ignore_errors=True)
    out.mkdir(parents=True)
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *PROTOS,
        ]
    )
    if status != 0:
        sys.exit(f"grpc_tools.protoc failed with status {status}")
    for module in out.rglob("*.py"):
        text = module.read_text()
        module.write_text(OUR_IMPORT.sub(r"from kilnpb.\1.v1 import ", text))
    for package in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (package / "__init__.py").touch()


if __name__ == "__main__":
    main()
