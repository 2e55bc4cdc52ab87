"""Runs a command in a mount namespace of its own, with an empty tmpfs over one folder: a "node" that does not
share that folder with the rest of the machine (tests of run directories without a shared file system).

    unshare -m --propagation private -- PYTHON tests/private_mount.py FOLDER COMMAND...

`unshare` gives this process its own mount namespace (the tests run as root); the tmpfs mounted here is seen
by this process and the command it becomes, and by nothing else on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> None:
    folder, command = argv[0], argv[1:]
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64M", "tmpfs", folder], check=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
