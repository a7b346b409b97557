"""``make spark-demo`` and ``make postgres-demo``: the four reports through a real engine.

``python -m demos.engines spark``
    Starts, from the installed pyspark wheel and the machine's Java 17, a Spark standalone
    **master**, one **worker** and a **Spark Connect server** (its driver on the master;
    an in-memory catalog whose tables are Parquet files in a temporary warehouse folder).
``python -m demos.engines postgres``
    Starts a throwaway **PostgreSQL** cluster (Debian's ``initdb`` and ``pg_ctl``) in a
    temporary folder on a free port, as the ``postgres`` user when run as root.

Then, for either engine, the same path a user takes:

1. ``crm-report ingest DATA --into VAR``: the export is validated here (the quarantine stays
   local) and the six tables are written by the engine's own writer;
2. ``crm-report render --data VAR``: all four reports, every notebook kernel a client of the
   engine;
3. ``crm-report render --data DATA``: the same data on the embedded DuckDB;
4. every KPI of ``kpis.json`` compared: numbers to a relative 1e-9 (engines sum doubles in
   different orders), model fits (``clv_*``, ``share_customers_p_alive_below_50``) to 1e-6
   (the optimiser stops on a tolerance), everything else exactly;
5. the engine's processes stopped, and checked gone.

It prints the processes it started, the load and per-notebook render times of both
engines, the comparison, and as its last line the folder of the engine's reports. Exit
status 1 when a KPI differs or a step fails, 2 when the engine's software is missing.
``VAR`` holds the URL (``CRM_SPARK_URL``, ``CRM_POSTGRES_URL``), which is never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crmlib.config import pid_running

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RTOL, MODEL_RTOL = 1e-9, 1e-6
#: Longest a load or a render may take before the demo gives up (and still stops the engine).
STEP_TIMEOUT = int(os.environ.get("CRM_DEMO_TIMEOUT", "3600"))
MODEL_KPIS = re.compile(r"^(clv_|share_customers_p_alive)")


def say(msg: str) -> None:
    print(msg, flush=True)


class Missing(Exception):
    """The engine's software is not on this machine (exit 2)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, what: str, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}); its log:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not open port {port} in {timeout} s; its log:\n{_tail(log)}")


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------
# Spark: master, worker, Connect server
# ---------------------------------------------------------------------------------------
class SparkCluster:
    """A standalone master, one worker and a Spark Connect server in ``work``."""

    def __init__(self, work: Path):
        self.work = work
        self.procs: list[tuple[str, subprocess.Popen]] = []
        try:
            import pyspark
        except ImportError:
            raise Missing(
                "pyspark is not installed: make setup (or pip install '.[spark]')"
            ) from None
        self.home = Path(pyspark.__file__).parent
        java = shutil.which("java")
        if java is None:
            raise Missing(
                "Java is missing: Spark needs Java 17 (Debian: apt-get install "
                "openjdk-17-jre-headless)"
            )
        out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
        found = re.search(r'version "(\d+)', out)
        if not found or int(found.group(1)) < 17:
            raise Missing(f"Spark 4 needs Java 17 or newer; this machine has: {out.strip()[:80]}")
        self.env = os.environ | {
            "SPARK_HOME": str(self.home),
            "SPARK_LOG_DIR": str(work / "logs"),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
        }
        (work / "logs").mkdir(parents=True, exist_ok=True)

    def _start(self, role: str, args: list[str], heap: str = "512m") -> subprocess.Popen:
        log = self.work / "logs" / f"{role}.log"
        proc = subprocess.Popen(
            args,
            # the daemons' heap; Spark also gives it to the Connect server's driver
            env=self.env | {"SPARK_DAEMON_MEMORY": heap},
            cwd=self.work,
            stdout=open(log, "wb"),  # kept open for the process's life
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one
        )
        self.procs.append((role, proc))
        return proc

    def start(self) -> str:
        cls = str(self.home / "bin" / "spark-class")
        submit = str(self.home / "bin" / "spark-submit")
        m_port, m_ui, w_ui, c_port = free_port(), free_port(), free_port(), free_port()
        master_url = f"spark://127.0.0.1:{m_port}"
        master = self._start(
            "master",
            [cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(m_port), "--webui-port", str(m_ui)],
        )  # fmt: skip
        wait_for_port(m_port, master, self.work / "logs" / "master.log", "Spark master")
        worker = self._start(
            "worker",
            [cls, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
             "--cores", "2", "--memory", "3g", "--webui-port", str(w_ui),
             "--work-dir", str(self.work / "worker")],
        )  # fmt: skip
        conf = {
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(c_port),
            "spark.sql.catalogImplementation": "in-memory",  # no Hive metastore to share
            "spark.sql.warehouse.dir": str(self.work / "warehouse"),
            "spark.sql.shuffle.partitions": "4",
            "spark.executor.memory": "2g",
            "spark.executor.cores": "2",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.enabled": "false",
        }
        # the driver's heap is set on the command line: in client mode a --conf
        # spark.driver.memory comes too late for the JVM already started
        args = [submit, "--master", master_url, "--name", "crm-reports Spark Connect",
                "--driver-memory", "2g",
                "--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]  # fmt: skip
        for key, value in conf.items():
            args += ["--conf", f"{key}={value}"]
        server = self._start("connect-server", args, heap="2g")
        wait_for_port(c_port, server, self.work / "logs" / "connect-server.log", "Connect server")
        if worker.poll() is not None:
            raise RuntimeError(
                f"Spark worker exited; its log:\n{_tail(self.work / 'logs' / 'worker.log')}"
            )
        return f"sc://127.0.0.1:{c_port}"

    def stop(self) -> list[str]:
        """Stop every process (Connect server, worker, master); return those left running."""
        for _role, proc in reversed(self.procs):
            _stop_group(proc)
        return [f"{role} (pid {p.pid})" for role, p in self.procs if _group_running(p.pid)]


def _stop_group(proc: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM the process's group (a worker's executors are in it), SIGKILL what is left
    after ``grace`` seconds, and wait until the group is empty."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _group_running(proc.pid) and time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.5)
    if _group_running(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _group_running(proc.pid) and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.5)


def _group_running(pid: int) -> bool:
    """Whether any process of group ``pid`` is still running (zombies, which a container's
    init may never reap, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


# ---------------------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster
# ---------------------------------------------------------------------------------------
class PostgresCluster:
    """``initdb`` + ``pg_ctl start`` in ``work`` on a free port (as ``postgres`` when root)."""

    def __init__(self, work: Path):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise Missing(
                "PostgreSQL is missing (Debian: apt-get install postgresql); its initdb and "
                "pg_ctl start a throwaway cluster"
            )
        self.bin = found[-1].parent
        self.work = work
        self.data = work / "pgdata"
        self.port = free_port()
        self.procs: list[tuple[str, int]] = []
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as postgres
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(work, "postgres")
            work.chmod(0o700)

    def _run(self, args: list[str]) -> None:
        out = subprocess.run(self.as_user + args, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {(out.stderr or out.stdout)[-400:]}")

    def start(self) -> str:
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "crm", "-A", "trust",
                   "-E", "UTF8", "--no-locale"])  # fmt: skip
        opts = f"-p {self.port} -k {self.work} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts,
                   "-l", str(self.work / "postgres.log"), "-w", "start"])  # fmt: skip
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        self.procs.append(("postgres", pid))
        self._run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", "crm", "crm"])  # fmt: skip
        return f"postgres://crm@127.0.0.1:{self.port}/crm"

    def stop(self) -> list[str]:
        if self.procs:
            with contextlib.suppress(RuntimeError):
                self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                           "stop"])  # fmt: skip
        deadline = time.monotonic() + 15  # the server removes its pid file, then exits
        while any(pid_running(pid) for _, pid in self.procs) and time.monotonic() < deadline:
            time.sleep(0.2)
        return [f"{role} (pid {pid})" for role, pid in self.procs if pid_running(pid)]


# ---------------------------------------------------------------------------------------
# The demonstration
# ---------------------------------------------------------------------------------------
def crm_report(args: list[str], env: dict) -> tuple[float, str]:
    """Run ``crm-report`` and return (seconds, its output); raise on failure."""
    start = time.perf_counter()
    try:
        out = subprocess.run(
            [str(BIN / "crm-report"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"crm-report {args[0]} ran longer than {STEP_TIMEOUT} s") from None
    seconds = time.perf_counter() - start
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise RuntimeError(f"crm-report {args[0]} failed ({out.returncode}):\n{text[-2000:]}")
    return seconds, text


def notebook_times(text: str) -> dict[str, float]:
    """Per-notebook seconds from ``crm-report render``'s progress lines."""
    return {m[1]: float(m[2]) for m in re.finditer(r"\] (\S+) ok \(([\d.]+) s\)", text)}


def kpis(out: Path) -> dict:
    files = sorted(out.glob("*/kpis.json"))
    if len(files) != 1:
        raise RuntimeError(f"expected one dated run in {out}, found {len(files)}")
    return json.loads(files[0].read_text())


def compare(engine: dict, duck: dict) -> list[tuple[str, str, object, object, str]]:
    """Every KPI of both runs: (notebook, kpi, engine value, DuckDB value, verdict)."""
    rows = []
    for nb in sorted(set(engine) | set(duck)):
        a, b = engine.get(nb, {}), duck.get(nb, {})
        for key in sorted(set(a) | set(b)):
            x, y = a.get(key, "<missing>"), b.get(key, "<missing>")
            rows.append((nb, key, x, y, _verdict(key, x, y)))
    return rows


def _verdict(key: str, x, y) -> str:
    if isinstance(x, bool) or isinstance(y, bool) or x is None or y is None:
        return "equal" if x == y else "DIFFERS"
    if isinstance(x, int | float) and isinstance(y, int | float):
        if isinstance(x, int) and isinstance(y, int):
            return "equal" if x == y else "DIFFERS"
        rtol = MODEL_RTOL if MODEL_KPIS.match(key) else RTOL
        if math.isclose(x, y, rel_tol=rtol, abs_tol=1e-12):
            return "equal" if x == y else f"within {rtol:g}"
        return "DIFFERS"
    return "equal" if x == y else "DIFFERS"


def step_profile(var: str, out: Path, only: list[str] | None = None) -> None:
    """Run every notebook step against the engine (in this process), recording the time and
    the rows fetched of each; print the summary and write ``out/steps.tsv``."""
    from benchmarks.notebook_calls import NOTEBOOKS, run_notebook
    from crmlib.engines import connect_url

    con = connect_url(var)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["notebook\tcell\tseconds\tfetches\trows_fetched\tlargest_fetch\tstep"]
    say(f"\nevery notebook step through {var} (in one process), rows fetched per step:")
    say(f"  {'notebook':<8} {'steps':>6} {'seconds':>8} {'fetches':>8} {'rows':>10} "
        f"{'largest':>8}  largest step")  # fmt: skip
    current = [""]  # the step running, named when it fails
    for path in NOTEBOOKS:
        if only and not any(path.stem.startswith(name) for name in only):
            continue

        def progress(step, ns, when, nb=path.stem):  # a slow step is said as it ends
            if when == "before":
                current[:] = [f"{nb} cell {step.cell}: {step.source.splitlines()[0][:60]}"]
            if when == "after" and step.seconds >= 30:
                rows = sum(c.rows for c in step.engine_calls)
                print(f"    {nb} cell {step.step.cell}: {step.seconds:.0f} s, {rows:,} rows "
                      f"fetched  {step.step.source.splitlines()[0][:50]}",
                      file=sys.stderr, flush=True)  # fmt: skip

        try:
            with contextlib.redirect_stdout(io.StringIO()):  # a raw display() prints its dict
                results = run_notebook(path, data=var, con=con, record=True, hook=progress)
        except Exception as exc:
            raise RuntimeError(f"{current[0]}: {type(exc).__name__}: {exc}") from exc
        worst = max(results, key=lambda r: max((c.rows for c in r.engine_calls), default=0))
        for r in results:
            rows = [c.rows for c in r.engine_calls]
            source = r.step.source.splitlines()[0][:70].replace("\t", " ")
            lines.append(f"{path.stem}\t{r.step.cell}\t{r.seconds:.2f}\t{len(rows)}\t"
                         f"{sum(rows)}\t{max(rows, default=0)}\t{source}")  # fmt: skip
        calls = [c.rows for r in results for c in r.engine_calls]
        largest = max(calls, default=0)
        say(f"  {path.stem:<8} {len(results):>6} {sum(r.seconds for r in results):>8.1f} "
            f"{len(calls):>8} {sum(calls):>10,} {largest:>8,}  "
            f"{worst.step.source.splitlines()[0][:50]}")  # fmt: skip
    (out / "steps.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    say(f"  every step: {out / 'steps.tsv'}")


def render_and_compare(args, var: str, env: dict, url: str, out: Path, duck_out: Path) -> int:
    """Render through the engine and through DuckDB, compare every KPI; 1 on a difference."""
    render = ["render", "--jobs", str(args.jobs)]
    e_s, e_text = crm_report([*render, "--data", var, "--out", str(out)], env)
    d_s, d_text = crm_report([*render, "--data", args.data, "--out", str(duck_out)], env)
    e_nb, d_nb = notebook_times(e_text), notebook_times(d_text)
    say(f"\nrender (--jobs {args.jobs}), seconds per notebook:")
    say(f"  {'notebook':<10} {args.engine:>10} {'duckdb':>10}")
    for nb in sorted(set(e_nb) | set(d_nb)):
        e, d = e_nb.get(nb, math.nan), d_nb.get(nb, math.nan)
        say(f"  {nb:<10} {e:>10.1f} {d:>10.1f}")
    say(f"  {'wall':<10} {e_s:>10.1f} {d_s:>10.1f}")
    rows = compare(kpis(out), kpis(duck_out))
    bad = [r for r in rows if r[4] == "DIFFERS"]
    close = [r for r in rows if r[4].startswith("within")]
    say(f"\nKPIs: {len(rows)} compared, {len(rows) - len(bad) - len(close)} equal, "
        f"{len(close)} equal within tolerance, {len(bad)} differ")  # fmt: skip
    for nb, key, x, y, verdict in close + bad:
        say(f"  {verdict:<14} {nb}.{key}: {args.engine} {x!r}, duckdb {y!r}")
    for text in (e_text, d_text):  # the URL (and any token in it) never in an output
        if url in text:
            bad.append(("", "url", "", "", "the engine URL appeared in crm-report's output"))
    leaked = [f for f in out.rglob("*") if f.is_file() and url.encode() in f.read_bytes()]
    if leaked:
        bad.append(("", "url", "", "", f"the engine URL appears in {leaked[0]}"))
        say(f"  the engine URL appears in {len(leaked)} report file(s)")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m demos.engines", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("engine", choices=["spark", "postgres"])
    p.add_argument("--data", default=str(ROOT / "data" / "sample"), help="export folder")
    p.add_argument("--out", default=None, help="reports folder (default reports/<engine>-demo)")
    p.add_argument("--jobs", type=int, default=2, help="notebooks rendered at a time")
    p.add_argument(
        "--steps",
        action="store_true",
        help="instead of the two renders and the KPI comparison, run every notebook step "
        "through the engine and report the time and rows fetched of each",
    )
    p.add_argument(
        "--notebooks",
        nargs="+",
        metavar="NAME",
        help="with --steps, only these notebooks (e.g. 03 04); default all four",
    )
    args = p.parse_args(argv)
    out = Path(args.out or ROOT / "reports" / f"{args.engine}-demo").resolve()
    duck_out = out.with_name(out.name + "-duckdb")
    var = "CRM_SPARK_URL" if args.engine == "spark" else "CRM_POSTGRES_URL"
    work = Path(tempfile.mkdtemp(prefix=f"crm-{args.engine}-"))
    try:
        cluster = SparkCluster(work) if args.engine == "spark" else PostgresCluster(work)
    except Missing as exc:
        say(f"{args.engine}-demo: {exc}")
        return 2
    status, left = 1, []
    try:
        start = time.perf_counter()
        url = cluster.start()
        say(f"started in {time.perf_counter() - start:.1f} s (work folder {work}):")
        for role, proc in cluster.procs:
            pid = proc if isinstance(proc, int) else proc.pid
            say(f"  {role:<15} pid {pid}")
        env = os.environ | {var: url}
        for folder in (out, duck_out):
            shutil.rmtree(folder, ignore_errors=True)
        load_s, text = crm_report(["ingest", args.data, "--into", var], env)
        say(f"\nloaded with crm-report ingest {args.data} --into {var} in {load_s:.1f} s:")
        say("\n".join("  " + line for line in text.strip().splitlines()))
        if args.steps:
            os.environ[var] = url
            step_profile(var, out, args.notebooks)
            status = 0
        else:
            status = render_and_compare(args, var, env, url, out, duck_out)
    except Exception as exc:  # a failed step: said in one message, the cluster still stopped
        say(f"\n{args.engine}-demo failed: {type(exc).__name__}: {exc}")
        for logs in (work / "logs", work / "worker"):  # outlive the temporary folder
            if logs.is_dir():
                shutil.copytree(logs, out / "engine-logs" / logs.name, dirs_exist_ok=True)
        if (out / "engine-logs").is_dir():
            say(f"  the engine's logs: {out / 'engine-logs'}")
    finally:
        left = cluster.stop()
        say(f"\nstopped: {', '.join(r for r, _ in cluster.procs) or 'nothing started'}; "
            f"left running: {', '.join(left) or 'none'}")  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)
    if left:
        status = 1
    done = "OK, every step ran" if args.steps else "OK, every KPI equal"
    say(f"{args.engine}-demo: {done if status == 0 else 'FAILED'}")
    say(str(out))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
