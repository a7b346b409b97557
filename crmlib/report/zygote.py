"""A fork server for a render's kernels: the libraries are imported once, not per kernel.

A report kernel spends about 2 s of CPU importing pandas, matplotlib, seaborn, scipy, ibis
and scikit-learn before its first cell does any work, and starting ipykernel itself adds
more: four kernels per render, on a 2-core machine, about 5 s of every render's wall
time. :func:`serve` imports them once (while the render validates the data, on the core
that would otherwise wait), and each kernel of the render is a ``fork`` of it:
:class:`crmlib.report.kernels` asks for one over a Unix socket instead of starting
``python -m ipykernel_launcher``.

A forked kernel is the same kernel: ipykernel's own entry point, the environment of its own
request (the render's), the notebook's working folder, a session of its own, stdin from
``/dev/null``; the pages and KPIs of a render are byte-identical either way (tested). The
server runs no Python thread and opens no connection (each kernel's first cell opens the
DuckDB warehouse); the native threads its imports start (OpenBLAS's workers, pyarrow's
jemalloc background thread) register fork handlers, as a library whose users fork must.
The server stops with the render (a parent-death signal, and a check of its parent every
second), and its kernels stop with it (ipykernel exits when its parent is gone).

The server is this file run as a script, importing nothing of crmlib (importing the
package declares KPIs and defaults that a kernel must only see when its notebook imports
them): :data:`PRELOAD` is third-party libraries only.

Protocol: one connection per kernel. The client sends one line of JSON (``argv``, ``env``,
``cwd``); the server answers the child's pid on a line, then, when the child exits, its
exit status on a second line (a negative number: killed by that signal), and closes.
"""

from __future__ import annotations

import sys

#: Imported by the server before it forks: the libraries a report kernel imports (about 2 s
#: of CPU; a module that fails to import is left to the kernel, which fails or not as it
#: would have). Not crmlib's own modules (0.1 s once these are loaded): importing them
#: declares KPIs and defaults, which a kernel must only see when its notebook imports them.
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "matplotlib_inline.backend_inline",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "sqlglot",
    "ibis",
    "ibis.backends.duckdb",
    "matplotlib.pyplot",
    "seaborn",
    "scipy.special",
    "scipy.stats",
    "scipy.optimize",
    "sklearn.cluster",
    "sklearn.metrics",
    "sklearn.preprocessing",
    "threadpoolctl",
    "lifelines",
    "jinja2",
)


#: The only command the server runs: ipykernel's launcher with a connection file.
KERNEL_MODULE = "ipykernel_launcher"


def kernel_args(argv: list[str]) -> list[str] | None:
    """The arguments after ``python -m ipykernel_launcher`` in ``argv``, or None when
    ``argv`` is another command (the server refuses it; the client starts it itself)."""
    if len(argv) < 3 or argv[1:3] != ["-m", KERNEL_MODULE]:
        return None
    return argv[3:]


def die_with_parent() -> None:
    """Have Linux send SIGKILL to this process when its parent dies (the render's workers
    and its fork server; ``prctl(PR_SET_PDEATHSIG)``).

    Without it a killed ``crm-report render`` leaves its workers (and their kernels)
    running forever under PID 1. The kernels themselves stop when their parent is gone
    (ipykernel watches its parent process).
    """
    import ctypes
    import os
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to arm
        return
    if os.getppid() == 1:  # the parent died before the signal was armed
        os._exit(1)


def serve(fd: int, parent: int) -> None:  # pragma: no cover - its own process (tests drive it)
    """Import :data:`PRELOAD`, then fork a kernel for each request on the listening Unix
    socket ``fd`` (bound and listening before this process started: a request made while
    the imports run waits in its backlog); stop when process ``parent`` (the render) is
    gone."""
    import gc
    import importlib
    import os
    import selectors
    import signal
    import socket

    die_with_parent()
    # (no MPLBACKEND set here: matplotlib is imported before any kernel exists, and the
    # inline backend's hooks into a kernel are set by the kernel's report theme,
    # crmlib.plots.set_theme, which switches to it)
    listener = socket.socket(fileno=fd)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # the kernel meets the same error itself
            pass
    gc.collect()
    gc.freeze()  # the children share these objects' pages instead of copying them

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = children.pop(pid, None)
            if conn is not None:
                try:
                    conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                except OSError:
                    pass
                conn.close()

    def closed_in_child() -> list:
        """What a kernel must not hold: the server's sockets, pipe and selector."""
        return [listener, sel, *children.values()]

    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.fileobj is not listener:
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
                continue
            try:  # a request that fails in any way is dropped: the server goes on
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                found = _request(conn)
                if found is None:
                    conn.close()
                    continue
                pid = os.fork()
            except Exception:
                conn.close()
                continue
            if pid == 0:
                for held in closed_in_child():
                    held.close()
                signal.set_wakeup_fd(-1)
                os.close(wake_r)
                os.close(wake_w)
                _run_kernel(*found, conn)
            children[pid] = conn
            try:
                conn.sendall(f"{pid}\n".encode())
            except OSError:
                pass
        reap()
        if os.getppid() != parent:  # the render is gone
            os._exit(0)


def _request(conn: object) -> tuple[list[str], dict[str, str], str] | None:  # pragma: no cover
    """Read one request from ``conn``: (kernel arguments, environment, working folder), or
    None for anything else, a request that does not arrive within 5 s, or a client that has
    already given up (it started the kernel itself)."""
    import json
    import os
    import socket

    assert isinstance(conn, socket.socket)
    conn.settimeout(5.0)
    data = b""
    while not data.endswith(b"\n") and len(data) < 1 << 20:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    request = json.loads(data)
    args = kernel_args([str(a) for a in request.get("argv", [])])
    if args is None:
        return None
    env = {str(k): str(v) for k, v in request["env"].items()}
    cwd = str(request.get("cwd") or os.getcwd())
    conn.setblocking(False)
    try:  # the client waits for the pid; a closed connection means it stopped waiting
        if conn.recv(1, socket.MSG_PEEK) == b"":
            return None
    except (BlockingIOError, InterruptedError):
        pass
    conn.setblocking(True)
    return args, env, cwd


def _run_kernel(
    args: list[str], env: dict[str, str], cwd: str, conn: object
) -> None:  # pragma: no cover
    """In the forked child: become ``python -m ipykernel_launcher *args`` and exit as it
    would (exit handlers run: a kernel's spill folder is removed, crmlib.config)."""
    import atexit
    import importlib.util
    import os
    import signal
    import traceback

    code = 1
    try:
        conn.close()  # type: ignore[attr-defined]
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # a session of its own, as jupyter_client starts kernels
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        # ipykernel exits when its parent (this server) is gone; it read its default
        # from the environment when the server imported it
        os.environ["JPY_PARENT_PID"] = str(os.getppid())
        spec = importlib.util.find_spec(KERNEL_MODULE)
        launcher = spec.origin if spec and spec.origin else KERNEL_MODULE
        sys.argv = [launcher, *args, f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.path[0] = cwd  # as ``python -m`` run in cwd (the server ran in the notebooks')
        if "numpy" in sys.modules:  # a fresh global random state, as a new process has
            sys.modules["numpy"].random.seed()
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # reported on stderr, as a crash of a kernel
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":  # pragma: no cover - run as a script by start_zygote
    serve(int(sys.argv[-2]), int(sys.argv[-1]))
