"""The kernels of a render: how they are started and what they are told.

Each notebook of a render runs in its own Jupyter kernel, started by
:func:`ipc_kernel_manager`'s manager with the render's settings added to its environment
(:func:`kernel_env`): the warehouse the render validated, and where the kernels running side
by side are marked so that they share the cores.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from crmlib import config

__all__ = ["ipc_kernel_manager", "kernel_env"]


@functools.cache
def ipc_kernel_manager(env: tuple[tuple[str, str], ...] = ()) -> type:
    """A kernel manager whose kernels talk over Unix sockets instead of localhost TCP, and
    start with the variables ``env`` added to this process's environment.

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
