"""A child process on a fresh pseudo-terminal of a fixed size, what it draws drained and discarded: the TUI
benchmarks run the real app there, so that drawing to a terminal is paid for."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading

TERMINAL = (160, 48)  # columns, rows


def spawn_in_pty(argv: list[str], size: tuple[int, int] = TERMINAL) -> tuple[subprocess.Popen, threading.Thread]:
    """Starts `argv` on a pseudo-terminal of `size` (columns, rows); the thread drains its output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    child = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)

    def drain() -> None:
        while True:
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break
        os.close(master)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return child, reader
