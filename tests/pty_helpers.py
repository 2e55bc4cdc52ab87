"""Running the real hrm-tui in a real pseudo-terminal and reading the raw bytes it writes.

Textual draws on the terminal its process is attached to; a Pilot test sees widgets, not bytes. These tests
want the bytes: that no escape sequence planted in a run directory ever reaches the terminal. The child gets
a fresh pty of a fixed size (as `python -m hrm_tui.bench` does); a thread drains it into `output`.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

CTRL_Q = "\x11"


class PtyApp:
    """A child process on a pseudo-terminal: `press` types, `output` is everything it wrote."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], size: tuple[int, int] = (120, 40)):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {**env, "TERM": "xterm-256color", "COLORTERM": "truecolor", "COLUMNS": str(size[0]), "LINES": str(size[1])}
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:
                break
            if not data:
                break
            with self._lock:
                self._chunks.append(data)

    @property
    def output(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)

    def wait_for(self, needle: bytes, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            if self.process.poll() is not None:
                raise AssertionError(f"the app exited ({self.process.returncode}) before {what}: {self.output[-2000:]!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.1)

    def press(self, *keys: str, pause: float = 0.5) -> None:
        for key in keys:
            os.write(self._master, key.encode())
            time.sleep(pause)

    def wait_exit(self, timeout: float) -> int:
        """The exit status, once everything the child wrote has been read."""
        try:
            code = self.process.wait(timeout=timeout)
            self._reader.join(timeout=10)  # the pty reads to its end once the child has closed it
        finally:
            self.close()
        return code

    def close(self) -> None:
        """Ends the child (and its process group) if it is still there."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        try:
            os.close(self._master)
        except OSError:
            pass
