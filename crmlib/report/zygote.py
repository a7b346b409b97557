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

Protocol: one connection per kernel. The client sends one line of JSON (``argv``, ``env``,
``cwd``); the server answers the child's pid on a line, then, when the child exits, its
exit status on a second line (a negative number: killed by that signal), and closes.
"""

from __future__ import annotations

import sys

#: Imported by the server before it forks: what a report kernel imports (a module that
#: fails to import is left to the kernel, which fails or not as it would have).
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "matplotlib_inline.backend_inline",
    "crmlib",
    "crmlib.plots",
    "crmlib.tables",
    "crmlib.segment",
    "crmlib.clv",
    "crmlib.metrics.customers",
    "crmlib.metrics.communications",
    "crmlib.metrics.campaigns",
    "crmlib.metrics.service",
    "crmlib.metrics.activity",
    "crmlib.metrics.cohorts",
    "crmlib.metrics.distributions",
    "ibis.backends.duckdb",
    "sklearn.cluster",
    "lifelines",
)


def serve(fd: int) -> None:  # pragma: no cover - runs in its own process (tests drive it)
    """Import :data:`PRELOAD`, then fork a kernel for each request on the listening Unix
    socket ``fd`` (bound and listening before this process started: a request made while
    the imports run waits in its backlog)."""
    import gc
    import importlib
    import json
    import os
    import selectors
    import signal
    import socket

    from crmlib.report.kernels import die_with_parent, kernel_args

    die_with_parent()
    parent = os.getppid()
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

    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    request = json.loads(conn.makefile("rb").readline() or b"{}")
                    args = kernel_args([str(a) for a in request.get("argv", [])])
                    if args is None:
                        raise ValueError("not a kernel")
                    env = {str(k): str(v) for k, v in request["env"].items()}
                    cwd = str(request.get("cwd") or os.getcwd())
                except (ValueError, KeyError, TypeError, AttributeError, OSError):
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    _run_kernel(args, env, cwd)
                children[pid] = conn
                try:
                    conn.sendall(f"{pid}\n".encode())
                except OSError:
                    pass
            else:
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
        reap()
        if os.getppid() != parent:  # the render is gone
            os._exit(0)


def _run_kernel(args: list[str], env: dict[str, str], cwd: str) -> None:  # pragma: no cover
    """In the forked child: become ``python -m ipykernel_launcher *args`` and exit."""
    import os
    import signal
    import traceback

    from crmlib.report.kernels import KERNEL_MODULE

    code = 1
    try:
        signal.set_wakeup_fd(-1)
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
        sys.argv = [KERNEL_MODULE, *args, f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.path[0] = cwd  # as ``python -m`` run in cwd
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # reported on stderr, as a crash of a kernel
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    serve(int(sys.argv[1]))
