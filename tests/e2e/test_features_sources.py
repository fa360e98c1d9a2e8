"""DataSource kinds other than one plain CSV file: a folder of CSV files,
some gzipped, and PostgreSQL (a real server this module starts on a free
loopback port and stops at the end). Each must give `skiff features
historical` exactly the output of the same rows read from one CSV file."""
import gzip
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import SRC, free_port, run

DATA = SRC / "tests" / "data" / "features"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def historical(*args, env=None):
    return run("features", "historical", *args, env=env)


def csv_result(service, *extra):
    r = historical("-f", str(DATA / "repo.yaml"), "--service", service,
                   "--entities", str(DATA / "entities.csv"), *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout


def repo_with_sources(tmp_path, user_stats, transactions):
    """repo.yaml with its two DataSource specs replaced (YAML flow text)."""
    text = (DATA / "repo.yaml").read_text()
    text = text.replace("  file: {path: data/user_stats.csv}\n", user_stats + "\n")
    text = text.replace("  file: {path: data/transactions.csv}\n", transactions + "\n")
    path = tmp_path / "repo.yaml"
    path.write_text(text)
    return path


def split(lines, parts):
    """The data lines of a CSV cut into `parts` files' worth, each with the header."""
    head, rows = lines[0], lines[1:]
    step = -(-len(rows) // parts)
    return [[head] + rows[i:i + step] for i in range(0, len(rows), step)]


def test_folder_of_csv_files_some_gzipped(tmp_path):
    for name in ("user_stats", "transactions"):
        folder = tmp_path / name
        folder.mkdir()
        lines = (DATA / "data" / f"{name}.csv").read_text().splitlines(keepends=True)
        for i, part in enumerate(split(lines, 3)):
            text = "".join(part).encode()
            if i == 0:
                (folder / f"part-{i}.csv").write_bytes(text)
            elif i == 1:
                (folder / f"part-{i}.csv.gz").write_bytes(gzip.compress(text))
            else:   # two gzip members back to back, as `cat a.gz b.gz` makes
                cut = len(text) // 2
                (folder / f"part-{i}.csv.gz").write_bytes(
                    gzip.compress(text[:cut]) + gzip.compress(text[cut:]))
        (folder / "notes.txt").write_text("not read\n")
    repo = repo_with_sources(tmp_path, "  file: {path: user_stats}",
                             "  file: {path: transactions}")
    for svc, extra in (("fraud_detection_v3", ()), ("fraud_velocity", ("--full-feature-names",))):
        r = historical("-f", str(repo), "--service", svc,
                       "--entities", str(DATA / "entities.csv"), *extra)
        assert r.returncode == 0, r.stderr
        assert r.stdout == csv_result(svc, *extra)


def test_single_gzip_file_and_a_broken_one(tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(DATA / "data" / "transactions.csv", tmp_path / "data" / "transactions.csv")
    (tmp_path / "data" / "user_stats.csv.gz").write_bytes(
        gzip.compress((DATA / "data" / "user_stats.csv").read_bytes()))
    repo = repo_with_sources(tmp_path, "  file: {path: data/user_stats.csv.gz}",
                             "  file: {path: data/transactions.csv}")
    r = historical("-f", str(repo), "--service", "fraud_detection_v3",
                   "--entities", str(DATA / "entities.csv"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == csv_result("fraud_detection_v3")
    # a truncated file is an error naming it, not a short table
    data = (tmp_path / "data" / "user_stats.csv.gz").read_bytes()
    (tmp_path / "data" / "user_stats.csv.gz").write_bytes(data[:len(data) // 2])
    r = historical("-f", str(repo), "--service", "fraud_detection_v3",
                   "--entities", str(DATA / "entities.csv"))
    assert r.returncode == 2 and "Sanitizer" not in r.stderr, r.stderr
    assert "user_stats.csv.gz' is not a valid gzip file" in r.stderr


# ---- PostgreSQL ----

def as_nobody(args):
    """initdb and postgres refuse to run as root: drop to nobody when root."""
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *args]
    return list(args)


@pytest.fixture(scope="module")
def pg():
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed (scripts/install-deps.sh)")
    # not under pytest's tmp dir: its parents are 0700 root, out of nobody's reach
    base = Path(tempfile.mkdtemp(prefix="skiff-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "nobody", "nogroup")
    data, port = base / "data", free_port()
    subprocess.run(as_nobody([str(PG_BIN / "initdb"), "-D", str(data), "-U", "skiff",
                              "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True, timeout=60)
    proc = subprocess.Popen(as_nobody([str(PG_BIN / "postgres"), "-D", str(data), "-k", str(base),
                                       "-p", str(port), "-h", "127.0.0.1", "-F"]),
                            stdout=subprocess.DEVNULL, stderr=open(base / "log", "wb"))
    url = f"postgresql://skiff@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 30
    while subprocess.run(["psql", url, "-c", "select 1"], capture_output=True).returncode != 0:
        assert proc.poll() is None, (base / "log").read_text()
        assert time.monotonic() < deadline, (base / "log").read_text()
        time.sleep(0.1)
    yield url
    proc.send_signal(signal.SIGINT)   # PostgreSQL's fast shutdown
    proc.wait(timeout=30)
    shutil.rmtree(base, ignore_errors=True)


def psql(url, sql):
    r = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q"], input=sql,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def load_tables(url):
    stats, tx = DATA / "data" / "user_stats.csv", DATA / "data" / "transactions.csv"
    psql(url, f"""
        DROP SCHEMA IF EXISTS feat CASCADE; CREATE SCHEMA feat;
        CREATE TABLE feat.user_stats (user_id text, event_timestamp timestamptz,
            created_at timestamptz, tx_count_1h bigint, avg_amount_7d double precision,
            high_risk_merchant boolean);
        CREATE TABLE feat."Raw Tx" (uid text, ts timestamptz, amount double precision,
            merchant text, note text);
        \\copy feat.user_stats FROM '{stats}' WITH (FORMAT csv, HEADER true)
        \\copy feat."Raw Tx" (uid, ts, amount, merchant) FROM '{tx}' WITH (FORMAT csv, HEADER true)
        """)


def test_postgres_source_equals_the_csv_path(pg, tmp_path):
    load_tables(pg)
    # a table (schema-qualified), and a query with a fieldMapping back to the
    # names the view uses; the connection comes from the environment only
    repo = repo_with_sources(
        tmp_path, "  postgres: {table: feat.user_stats}",
        "  postgres: {query: 'SELECT * FROM feat.\"Raw Tx\" WHERE amount IS NULL OR amount >= 0'}\n"
        "  fieldMapping: {uid: user_id}")
    env = {"SKIFF_FEATURES_POSTGRES_URL": pg}
    for svc, extra in (("fraud_detection_v3", ()), ("fraud_velocity", ("--full-feature-names",))):
        r = historical("-f", str(repo), "--service", svc,
                       "--entities", str(DATA / "entities.csv"), *extra, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout == csv_result(svc, *extra)
    # libpq's own variables work too (no skiff setting at all)
    port = pg.rsplit(":", 1)[1].split("/")[0]
    r = historical("-f", str(repo), "--service", "fraud_detection_v3",
                   "--entities", str(DATA / "entities.csv"),
                   env={"PGHOST": "127.0.0.1", "PGPORT": port, "PGUSER": "skiff",
                        "PGDATABASE": "postgres"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == csv_result("fraud_detection_v3")


def test_postgres_errors_name_the_source(pg, tmp_path):
    load_tables(pg)
    repo = repo_with_sources(tmp_path, "  postgres: {table: feat.no_such_table}",
                             "  postgres: {table: feat.user_stats}")
    r = historical("-f", str(repo), "--service", "fraud_detection_v3",
                   "--entities", str(DATA / "entities.csv"),
                   env={"SKIFF_FEATURES_POSTGRES_URL": pg})
    assert r.returncode == 2 and "Sanitizer" not in r.stderr, r.stderr
    assert "data source 'user_stats_source'" in r.stderr
    assert "feat.no_such_table" in r.stderr and "does not exist" in r.stderr
    # a value that does not parse as its declared type: row and column named
    psql(pg, "INSERT INTO feat.user_stats VALUES ('u9', now(), NULL, NULL, NULL, NULL);"
             "ALTER TABLE feat.user_stats ALTER tx_count_1h TYPE text;"
             "UPDATE feat.user_stats SET tx_count_1h = 'many' WHERE user_id = 'u9';")
    repo = repo_with_sources(tmp_path, "  postgres: {table: feat.user_stats}",
                             "  postgres: {table: feat.user_stats}")
    r = historical("-f", str(repo), "--service", "fraud_detection_v3",
                   "--entities", str(DATA / "entities.csv"),
                   env={"SKIFF_FEATURES_POSTGRES_URL": pg})
    assert r.returncode == 2
    assert "postgres:feat.user_stats:6:" in r.stderr and '"many" is not a valid INT64' in r.stderr
    # nothing listening: unavailable, saying where the connection came from
    r = historical("-f", str(repo), "--service", "fraud_detection_v3",
                   "--entities", str(DATA / "entities.csv"),
                   env={"SKIFF_FEATURES_POSTGRES_URL": f"postgresql://skiff@127.0.0.1:{free_port()}/x"})
    assert r.returncode == 1 and "Sanitizer" not in r.stderr, r.stderr
    assert "cannot connect to PostgreSQL (SKIFF_FEATURES_POSTGRES_URL)" in r.stderr


STREAM_DEFS = """
apiVersion: skiff.dev/v1
kind: Entity
metadata: {name: user}
spec: {joinKeys: [user_id], valueType: STRING}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: wide}
spec:
  postgres:
    query: >-
      SELECT 'u' || (i %% 100) AS user_id,
             timestamptz '2026-11-20 00:00:00+00' + i * interval '1 second' AS event_timestamp,
             lpad(i::text, %(w)d, '0') AS a, lpad((2 * i)::text, %(w)d, '0') AS b,
             lpad((3 * i)::text, %(w)d, '0') AS c
      FROM generate_series(1, %(n)d) i
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: wide}
spec:
  entities: [user]
  source: wide
  fields:
  - {name: a, dtype: DOUBLE}
  - {name: b, dtype: DOUBLE}
  - {name: c, dtype: DOUBLE}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: wide}
spec:
  features: [wide]
"""


def test_postgres_copy_is_streamed_not_held(pg, tmp_path):
    """The COPY output is parsed as it arrives: peak memory is the typed
    table plus a chunk, far below the COPY's text. Each value here is 700
    characters of text (zero-padded numbers) and 8 bytes once parsed: 100k
    rows are 210 MB of text and 3.5 MB of table. Holding the text, as the
    reader did before, peaks above 210 MB."""
    n, w = 100000, 700
    (tmp_path / "repo.yaml").write_text(STREAM_DEFS % {"n": n, "w": w})
    # entity rows: key u<k> at second s picks the last i <= s with i % 100 == k
    ents = [("u5", 1005), ("u5", 1004), ("u0", 99999), ("u7", 3), ("u42", 100000 + 50)]
    (tmp_path / "entities.csv").write_text(
        "user_id,event_timestamp\n" +
        "".join(f"{u},{1795132800 + sec}\n" for u, sec in ents))
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as errf:
        proc = subprocess.Popen([os.environ.get("SKIFF_BIN", str(SRC / "build" / "skiff")),
                                 "features", "historical", "-f", str(tmp_path / "repo.yaml"),
                                 "--service", "wide", "--entities", str(tmp_path / "entities.csv"),
                                 "-o", str(tmp_path / "out.csv")],
                                env=dict(os.environ, SKIFF_FEATURES_POSTGRES_URL=pg,
                                         ASAN_OPTIONS="quarantine_size_mb=0"),
                                stderr=errf)
        # the child's own high-water mark (VmHWM, its address space since exec):
        # wait4's ru_maxrss would count this Python process too, whose pages the
        # child had before exec
        peak_kib = 0
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as st:
                    for line in st:
                        if line.startswith("VmHWM:"):
                            peak_kib = max(peak_kib, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.005)
    assert proc.returncode == 0, log.read_text()
    assert peak_kib > 0
    rows = (tmp_path / "out.csv").read_text().splitlines()
    want = []
    for u, sec in ents:
        k = int(u[1:])
        i = max((j for j in range(k or 100, min(sec, n) + 1, 100)), default=None)
        want.append(f"{u},{1795132800 + sec}," + (f"{i},{2 * i},{3 * i}" if i else ",,"))
    got = [r.replace(".0,", ",").replace(".0", "") for r in rows[1:]]
    assert rows[0] == "user_id,event_timestamp,a,b,c"
    assert [g.split(",", 2)[2] for g in got] == [x.split(",", 2)[2] for x in want], rows
    text_mib = n * (3 * w + 30) / 2**20
    assert peak_kib / 1024 < text_mib / 2, (peak_kib / 1024, text_mib)
    # the server fails after several chunks were parsed (a division by zero
    # at row 90000): its error, not a short table and not a parse error
    (tmp_path / "repo.yaml").write_text(
        STREAM_DEFS.replace("lpad(i::text, %(w)d, '0') AS a",
                            "lpad((i / (90000 - i))::text, %(w)d, '0') AS a") % {"n": n, "w": w})
    r = historical("-f", str(tmp_path / "repo.yaml"), "--service", "wide",
                   "--entities", str(tmp_path / "entities.csv"),
                   env={"SKIFF_FEATURES_POSTGRES_URL": pg})
    assert r.returncode == 2 and "Sanitizer" not in r.stderr, r.stderr
    assert "data source 'wide'" in r.stderr and "division by zero" in r.stderr, r.stderr


def test_progress_bars_on_a_terminal_only(tmp_path):
    """Bars for each source read and each join when stderr is a terminal;
    nothing extra when it is a pipe (the other tests)."""
    import pty
    out = tmp_path / "out.csv"
    args = [os.environ.get("SKIFF_BIN", str(SRC / "build" / "skiff")), "features", "historical",
            "-f", str(DATA / "repo.yaml"), "--service", "fraud_velocity",
            "--entities", str(DATA / "entities.csv"), "-o", str(out), "--full-feature-names"]
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:   # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, seen
    text = seen.decode()
    for label in ("reading user_stats.csv", "joining user_stats", "reading transactions.csv",
                  "joining user_velocity"):
        assert label in text, text
    assert text.count("100%") >= 4, text
    assert out.read_text().splitlines()[1].startswith("u1,2026-11-27T09:00:00Z,1,8,2,80,")
