"""The kernels of a render: how they are started and what they are told.

Each notebook of a render runs in its own Jupyter kernel, started by
:func:`ipc_kernel_manager`'s manager with the render's settings added to its environment
(:func:`kernel_env`): the warehouse the render validated, and where the kernels running side
by side are marked so that they share the cores. With a fork server
(:func:`start_zygote`, :mod:`crmlib.report.zygote`) the kernels are forks of a process that
has imported the libraries once; without one, or when it cannot answer, each kernel is
started as its own process, as Jupyter does.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from crmlib import config
from crmlib.report.zygote import die_with_parent, kernel_args

__all__ = ["die_with_parent", "ipc_kernel_manager", "kernel_env", "start_zygote", "stop_zygote"]

#: Set to ``0`` to start every kernel as its own process (no fork server).
FORK_ENV = "CRM_FORK_KERNELS"
#: Seconds a kernel request waits for the fork server's answer (it answers once its
#: imports are done, about 3 s after it starts) before the kernel is started directly.
ZYGOTE_TIMEOUT = 60.0


def start_zygote(folder: Path, cwd: Path | None = None) -> subprocess.Popen | None:
    """Start the render's fork server (:mod:`crmlib.report.zygote`) on a socket in
    ``folder`` (private to the render), working in ``cwd`` (the notebooks' folder: where
    its imports look, as a kernel's would, e.g. for a ``matplotlibrc``); None when
    :data:`FORK_ENV` is ``0``, off Linux, or when it cannot start (each kernel is then
    started as its own process).

    The server imports the kernels' libraries while the render validates the data; each
    kernel's environment comes with its request. Stop it with :func:`stop_zygote` (it also
    stops when this process dies).
    """
    from crmlib.report import zygote

    if os.environ.get(FORK_ENV, "1") == "0" or not sys.platform.startswith("linux"):
        # elsewhere, as Python's multiprocessing does on macOS, no fork after the imports:
        # system frameworks there (Accelerate, which numpy may use) are not fork-safe
        return None
    path = folder / "zygote.sock"
    if len(str(path).encode()) >= 100:  # too long for a Unix socket name
        return None
    # bound and listening here, before the server starts: a kernel asked for while the
    # server still imports waits in the backlog (the server inherits the socket)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        listener.listen(16)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                # the file run as a script, not imported as crmlib.report.zygote: importing
                # the crmlib package would declare KPIs and defaults in every kernel
                "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')",
                zygote.__file__,
                str(listener.fileno()),
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            pass_fds=[listener.fileno()],
            cwd=cwd or config.NOTEBOOKS_DIR,
            start_new_session=True,  # Ctrl-C reaches the render, which stops it
        )
    except OSError:
        return None
    finally:
        listener.close()  # the server's copy stays open
    proc.socket_path = str(path)  # type: ignore[attr-defined]
    return proc


def stop_zygote(proc: subprocess.Popen | None) -> None:
    """Stop a fork server started by :func:`start_zygote` (its kernels have ended)."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ForkedKernel:
    """The part of :class:`subprocess.Popen` jupyter_client's local provisioner uses, for a
    kernel forked by the fork server: its pid, its exit status (read from the server's
    connection), signals."""

    stdin = stdout = stderr = None

    def __init__(self, conn: socket.socket, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._conn = conn
        self._got = b""

    def _read_status(self, timeout: float | None) -> None:
        """Read the exit status if the server has sent it (``timeout`` 0: do not wait)."""
        self._conn.settimeout(timeout)
        while not self._got.endswith(b"\n"):
            try:
                chunk = self._conn.recv(64)
            except (BlockingIOError, InterruptedError, TimeoutError):
                return  # still running
            except OSError:
                chunk = b""
            if not chunk:  # the server stopped without a status: its kernels stop too
                break
            self._got += chunk
        self.returncode = int(self._got) if self._got.strip() else -signal.SIGKILL
        self._conn.close()

    def poll(self) -> int | None:
        """The exit status, or None while the kernel runs."""
        if self.returncode is None:
            self._read_status(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the kernel to exit and return its status."""
        if self.returncode is None:
            self._read_status(timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_kernel(path: str, cmd: list[str], env: dict, cwd: str | None) -> ForkedKernel | None:
    """Ask the fork server on socket ``path`` for a kernel running ``cmd``; None when it
    does not answer (no server, another command, too slow): start the kernel directly."""
    if kernel_args(list(cmd)) is None or os.path.realpath(cmd[0]) != os.path.realpath(
        sys.executable
    ):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(ZYGOTE_TIMEOUT)
        conn.connect(path)
        request = {"argv": list(cmd), "env": dict(env), "cwd": str(cwd or os.getcwd())}
        conn.sendall(json.dumps(request).encode() + b"\n")
        line = b""
        while not line.endswith(b"\n"):
            chunk = conn.recv(1)
            if not chunk:
                raise OSError("the fork server closed the connection")
            line += chunk
        pid = int(line)
    except (OSError, ValueError):
        conn.close()
        return None
    conn.settimeout(None)
    return ForkedKernel(conn, pid)


def _forking_provisioner(path: str) -> type:
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    class ForkingProvisioner(LocalProvisioner):
        """jupyter_client's local provisioner, launching by a fork of the render's server."""

        async def launch_kernel(self, cmd: list[str], **kwargs: object):  # type: ignore[override]
            env = kwargs.get("env") or os.environ
            cwd = kwargs.get("cwd")
            proc = fork_kernel(path, cmd, dict(env), None if cwd is None else str(cwd))
            if proc is None:
                return await super().launch_kernel(cmd, **kwargs)
            self.process = proc
            self.pid = proc.pid
            self.pgid = proc.pid  # the child started a session of its own
            self.cwd = cwd
            return self.connection_info

    return ForkingProvisioner


@functools.cache
def ipc_kernel_manager(env: tuple[tuple[str, str], ...] = (), zygote: str = "") -> type:
    """A kernel manager whose kernels talk over Unix sockets instead of localhost TCP, and
    start with the variables ``env`` added to this process's environment; forked by the
    fork server on socket ``zygote`` when given (:func:`start_zygote`).

    The sockets get a name of their own in Jupyter's runtime folder (private to the user;
    jupyter_client removes them when the kernel stops). On TCP any local process can reach
    the ports, and ipykernel 7 warns about that on every start ("Kernel is running over TCP
    without encryption"), a line in every render's output. The name must be set: the default
    is ``kernel-ipc`` in the working folder, shared by notebooks rendered side by side.
    """
    import uuid

    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            runtime = Path(jupyter_runtime_dir())
            runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = str(runtime / f"crm-{uuid.uuid4().hex[:12]}")
            # a socket path has at most ~107 bytes, and the ports add "-1".."-5": in a
            # deeper runtime folder, stay on TCP (and its warning) rather than fail
            if len(path.encode()) + 2 <= zmq.IPC_PATH_MAX_LEN:
                self.transport = "ipc"
                self.ip = path

        async def _async_pre_start_kernel(self, **kw: object):  # type: ignore[override]
            if zygote and self.provisioner is None:
                import uuid as _uuid

                self.kernel_id = self.kernel_id or str(kw.pop("kernel_id", _uuid.uuid4()))
                self.provisioner = _forking_provisioner(zygote)(
                    kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
                )
            if env:  # the kernel's environment: this process's plus the render's settings
                kw["env"] = {**(kw.get("env") or os.environ), **dict(env)}  # type: ignore[dict-item]
            return await super()._async_pre_start_kernel(**kw)

    return IPCKernelManager


def kernel_env(data: str | os.PathLike, parallel: int, kernels: Path) -> dict[str, str]:
    """Return the variables a render adds to its kernels' environment.

    - :data:`crmlib.warehouse.VALIDATED_ENV`: the warehouse the render has just validated,
      which the kernels open without hashing the data files again
      (:func:`crmlib.warehouse.validated_snapshot`).
    - :data:`crmlib.engines.KERNELS_ENV`: the folder ``kernels`` in which each running
      kernel is marked (:func:`crmlib.report.run._run_one`), when ``parallel`` kernels run
      side by side and ``CRM_ENGINE_THREADS`` does not fix the threads: each kernel's
      engine then takes its share of the cores (:func:`crmlib.engines.share_cores`).
    """
    from crmlib.engines import KERNELS_ENV
    from crmlib.warehouse import VALIDATED_ENV, validated_snapshot

    env: dict[str, str] = {}
    snapshot = validated_snapshot(data)
    if snapshot:
        env[VALIDATED_ENV] = json.dumps(snapshot)
    if parallel > 1 and config.engine_threads() is None:
        env[KERNELS_ENV] = str(kernels)
    return env
