"""DuckDB side of the SQL benchmark (benches/sql-vs-duckdb.sh).

Answers "top 20 functions by CPU (self time: the leaf frame of each stack)
over a time range for one service" over Kiln's Parquet block files directly,
joined by hand as any Parquet user would: samples ⋈ series (service and
profile type) ⋈ stacks (the sample's stack node) ⋈ frames (that node's
function). Ids are block-local, so every join also matches the block
folder. Only the blocks the metastore lists are read (a compacted-away
block may still sit in the store until its deletion grace passes).

usage: duckdb_top_functions.py BLOCKS_DIR BLOCK_LIST_FILE SERVICE PROFILE_TYPE
                               START_NS END_NS RUNS
Prints the answer as CSV (function,cpu_ns) on stdout, and one line of JSON
with the timings (milliseconds) on stderr: the first run in a fresh
connection (cold: DuckDB's caches empty, the OS page cache as it is) and
RUNS more in the same connection (warm).
"""

import csv
import json
import os
import sys
import tempfile
import time

import duckdb

QUERY = """
WITH s AS (
    SELECT parse_dirpath(filename) AS block, series_id, stack_id, value
    FROM read_parquet($samples, filename = true)
    WHERE time_ns BETWEEN $start AND $end
), ser AS (
    SELECT parse_dirpath(filename) AS block, series_id
    FROM read_parquet($series, filename = true)
    WHERE service_name = $service AND profile_type = $profile_type
), st AS (
    SELECT parse_dirpath(filename) AS block, stack_id, frame_id
    FROM read_parquet($stacks, filename = true)
), fr AS (
    SELECT parse_dirpath(filename) AS block, frame_id, "function"
    FROM read_parquet($frames, filename = true)
)
SELECT fr."function" AS "function", SUM(s.value) AS cpu_ns
FROM s
JOIN ser ON ser.block = s.block AND ser.series_id = s.series_id
JOIN st ON st.block = s.block AND st.stack_id = s.stack_id
JOIN fr ON fr.block = st.block AND fr.frame_id = st.frame_id
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 20
"""


def main():
    blocks_dir, list_file, service, profile_type, start_ns, end_ns, runs = sys.argv[1:8]
    with open(list_file) as f:
        blocks = [line.strip() for line in f if line.strip()]
    if not blocks:
        sys.exit("duckdb_top_functions.py: the block list is empty")
    files = {
        name: [os.path.join(blocks_dir, b, name + ".parquet") for b in blocks]
        for name in ("samples", "series", "stacks", "frames")
    }
    params = dict(files, service=service, profile_type=profile_type,
                  start=int(start_ns), end=int(end_ns))

    # In-memory database; spills (if any) go to the system temp dir, not a
    # `.tmp/` folder in the working tree.
    con = duckdb.connect(config={"temp_directory": tempfile.gettempdir()})
    timings = []
    rows = None
    for _ in range(1 + int(runs)):
        began = time.perf_counter()
        rows = con.execute(QUERY, params).fetchall()
        timings.append((time.perf_counter() - began) * 1000)

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["function", "cpu_ns"])
    out.writerows(rows)
    print(json.dumps({"duckdb": duckdb.__version__, "threads":
                      con.execute("SELECT current_setting('threads')").fetchone()[0],
                      "cold_ms": timings[0], "warm_ms": timings[1:]}), file=sys.stderr)


if __name__ == "__main__":
    main()
