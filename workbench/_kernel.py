"""How the runner starts kernels: over local sockets, with the kernel process's own log kept in a file.

Imported only when a notebook runs (it pulls in jupyter_client), never by ``workbench --help``.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_client import AsyncKernelManager
from traitlets import Unicode
from traitlets.config import Config


class QuietKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel writes its process output to ``kernel_log`` instead of our terminal.

    The kernel's own log lines (start-up notices, "KeyboardInterrupt caught in kernel" after a stopped cell)
    are not the notebook's output, which papermill records in the notebook; on the terminal they break the
    one-line-per-notebook progress. They are kept in the file, so a kernel that dies still leaves its reason.
    """

    kernel_log = Unicode("", config=True, help="file that receives the kernel process's stdout and stderr")

    _log_file = None

    async def start_kernel(self, **kw: Any) -> None:  # kw are passed down to Popen (documented on start_kernel)
        if self.kernel_log and "stderr" not in kw:
            # Open until shutdown: the manager keeps its launch arguments for a restart, which reuses the file.
            self._log_file = open(self.kernel_log, "ab")  # noqa: SIM115
            kw.update(stdout=self._log_file, stderr=self._log_file)
        await super().start_kernel(**kw)

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        try:
            await super().shutdown_kernel(now=now, restart=restart)
        finally:
            if not restart and self._log_file is not None:
                self._log_file.close()
                self._log_file = None


def kernel_config(socket_dir: str, kernel_log: str) -> Config:
    """Config for kernels on IPC (Unix socket) transport in ``socket_dir``, logging to ``kernel_log``.

    Over TCP every kernel start logs ipykernel's "running over TCP without encryption" warning, once per
    notebook in a report. IPC keeps kernel traffic off the network altogether, behind the sockets' private
    folder, so the warning's concern does not arise. The folder is short (Unix socket paths are limited to
    about 100 bytes) and one per execution, so parallel sweep points never share a socket.
    """
    return Config({
        "KernelManager": {"transport": "ipc", "ip": os.path.join(socket_dir, "kernel")},
        "QuietKernelManager": {"kernel_log": kernel_log},
    })
