"""Flight SQL on port 4040 with clients nobody here wrote.

ADBC's Flight SQL driver (plain query, prepared statement, catalog
metadata) and pyarrow.flight (hand-encoded CommandStatementQuery ->
GetFlightInfo -> DoGet) must return what POST /api/v1/sql returns, and
refusals (bad SQL, DDL/DML, file reads, other tenants, no tenant, limits)
must fail with the right gRPC status and a message naming the problem.

usage: flight_test.py HTTP_URL
Tenants (see tests/suites/40-sql.sh): team-a has the Rust agent's data;
team-b has none and sql_max_rows = 1; team-c has sql_timeout = 300ms;
team-d has sql_max_memory_bytes = 1 MiB.
"""

import json
import sys
import urllib.request

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as adbc
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight

http_url = sys.argv[1]
grpc_url = "grpc://" + http_url.split("://", 1)[1]
HEADER = adbc_driver_flightsql.DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "x-scope-orgid"
TOTALS = "SELECT service_name, SUM(value) AS total FROM profile_samples GROUP BY 1 ORDER BY 1"
LEAVES = ("SELECT leaf(stack) AS leaf, SUM(value) AS self FROM profile_samples "
          "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5")
passed = []


def check(name):
    passed.append(name)


def http_rows(sql, tenant="team-a"):
    req = urllib.request.Request(http_url + "/api/v1/sql", data=sql.encode(), method="POST",
                                 headers={"X-Scope-OrgID": tenant, "Accept": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())["rows"]


def connect(tenant):
    return adbc.connect(grpc_url, db_kwargs={HEADER: tenant})


def expect_error(fn, exc_type, needle):
    try:
        fn()
    except exc_type as e:
        assert needle in str(e), f"{needle!r} not in {e}"
        return e
    raise AssertionError(f"expected {exc_type.__name__} containing {needle!r}")


# --- ADBC: plain query, prepared statement, metadata -------------------------
with connect("team-a") as conn:
    for sql in (TOTALS, LEAVES):
        want = http_rows(sql)
        assert want, f"no rows over HTTP for {sql}"
        with conn.cursor() as cur:
            cur.execute(sql)
            got = cur.fetch_arrow_table().to_pylist()
        assert got == want, f"ADBC plain {sql}: {got} != {want}"
    check("adbc plain query")

    with conn.cursor() as cur:
        cur.adbc_prepare(TOTALS)  # CreatePreparedStatement: plans, returns the schema
        cur.execute(TOTALS)  # runs the prepared handle
        got = cur.fetch_arrow_table()
    assert got.schema.names == ["service_name", "total"], got.schema
    assert got.to_pylist() == http_rows(TOTALS), got.to_pylist()
    check("adbc prepared statement")

    # Parameters: ADBC prepares, binds the values (DoPut) and runs the handle
    # the server returned; the answer equals the SQL with the values inlined.
    service = http_rows(TOTALS)[0]["service_name"]
    bound = ("SELECT service_name, SUM(value) AS total FROM profile_samples "
             "WHERE service_name = $1 AND value >= $2 GROUP BY 1")
    inline = bound.replace("$1", f"'{service}'").replace("$2", "0")
    with conn.cursor() as cur:
        cur.execute(bound, (service, 0))
        got = cur.fetch_arrow_table().to_pylist()
        assert got == http_rows(inline) and got, f"bound {got} != inline {http_rows(inline)}"
        # The same prepared statement again with other values.
        cur.execute(bound, ("no-such-service", 0))
        assert cur.fetch_arrow_table().num_rows == 0
        # Prepare reports the parameters and their types.
        cur.adbc_prepare(bound)
        params = pa.schema(cur.adbc_statement.get_parameter_schema())
        assert params.names == ["$1", "$2"] and str(params.field("$1").type) == "string", params
        # Wrong counts and types are refused with a message naming them.
        expect_error(lambda: cur.execute(bound, (service,)), adbc_driver_manager.Error,
                     "parameter")
        expect_error(lambda: cur.execute(bound, (service, "many")), adbc_driver_manager.Error,
                     "parameter $2")
    check("adbc parameters")

    info = conn.adbc_get_info()
    assert info["vendor_name"] == "Kiln", info
    schema = conn.adbc_get_table_schema("profile_samples")
    assert schema.names == ["time", "service_name", "profile_type", "labels", "stack", "value"], schema
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    tables = {t["table_name"] for c in objects for s in c["catalog_db_schemas"] or []
              for t in s["db_schema_tables"] or []}
    assert {"profile_samples", "samples", "series", "frames"} <= tables, tables
    check("adbc metadata")

    # Refusals through ADBC: bad SQL names the column, DDL/DML are refused.
    with conn.cursor() as cur:
        expect_error(lambda: cur.execute("SELECT nope FROM samples"),
                     adbc_driver_manager.ProgrammingError, "nope")
        expect_error(lambda: cur.execute("CREATE TABLE t (x INT)"),
                     adbc_driver_manager.Error, "not allowed")
        expect_error(lambda: cur.execute("INSERT INTO series SELECT * FROM series"),
                     adbc_driver_manager.Error, "not allowed")
        expect_error(lambda: cur.execute("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'"),
                     adbc_driver_manager.Error, "not allowed")
        # Preparing plans on the server, so a refused statement fails at prepare.
        expect_error(lambda: cur.adbc_prepare("DROP TABLE samples"),
                     adbc_driver_manager.Error, "not allowed")
    check("adbc refusals")

with connect("team-b") as conn, conn.cursor() as cur:
    cur.execute("SELECT COUNT(*) AS n FROM samples")
    assert cur.fetch_arrow_table().to_pylist() == [{"n": 0}], "team-b sees team-a's samples"
    check("adbc tenant isolation")


# --- pyarrow.flight: a hand-encoded Flight SQL command ----------------------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, payload):
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def statement_query(sql):
    """google.protobuf.Any{CommandStatementQuery{query = sql}}."""
    command = field(1, sql.encode())
    type_url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return field(1, type_url) + field(2, command)


client = flight.connect(grpc_url)


def options(tenant):
    headers = [(b"x-scope-orgid", tenant.encode())] if tenant else []
    return flight.FlightCallOptions(headers=headers)


def info_of(sql, tenant="team-a"):
    return client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)),
                                  options(tenant))


def run(sql, tenant="team-a"):
    info = info_of(sql, tenant)
    return client.do_get(info.endpoints[0].ticket, options(tenant)).read_all()


table = run(TOTALS)
assert table.to_pylist() == http_rows(TOTALS), table.to_pylist()
assert info_of(TOTALS).schema.names == ["service_name", "total"]
check("pyarrow.flight query")

# pyarrow raises ArrowInvalid for INVALID_ARGUMENT and RESOURCE_EXHAUSTED;
# the message names the gRPC status.
expect_error(lambda: run("SELEC 1"), pa.ArrowInvalid, "invalid argument error, with message: invalid SQL")
expect_error(lambda: run("SELECT * FROM no_such_table"), pa.ArrowInvalid, "no_such_table")
expect_error(lambda: run("DROP TABLE samples"), flight.FlightUnauthorizedError, "not allowed")
expect_error(lambda: run("COPY (SELECT 1) TO '/tmp/kiln-flight.csv'"),
             flight.FlightUnauthorizedError, "not allowed")
expect_error(lambda: run("SELECT * FROM '/etc/passwd'"), pa.ArrowInvalid, "'datafusion.public./etc/passwd' not found")
# Another tenant's ticket is refused; without X-Scope-OrgID nothing is answered.
ticket = info_of(TOTALS).endpoints[0].ticket
expect_error(lambda: client.do_get(ticket, options("team-b")).read_all(),
             flight.FlightUnauthorizedError, "another tenant")
expect_error(lambda: run(TOTALS, tenant=None), flight.FlightUnauthenticatedError, "X-Scope-OrgID")
check("pyarrow.flight refusals")

# Limits (tenant overrides in the suite's config): rows, time, memory.
expect_error(lambda: run("SELECT * FROM (VALUES (1), (2), (3)) AS t(x)", tenant="team-b"),
             pa.ArrowInvalid, "resource exhausted error, with message: result has more than 1 rows")
expect_error(lambda: run("SELECT COUNT(*) FROM generate_series(1, 100000000000)", tenant="team-c"),
             flight.FlightTimedOutError, "query exceeded the time limit of 300ms")
expect_error(lambda: run("SELECT x, COUNT(*) FROM generate_series(1, 20000000) AS t(x) GROUP BY 1",
                         tenant="team-d"),
             pa.ArrowInvalid, "resource exhausted error, with message: query exceeded the memory limit")
check("pyarrow.flight limits")

print("flight:", ", ".join(passed))
