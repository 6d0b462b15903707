"""Secrets generated once and kept beside the data (the token signing secret, the embedded
graph's root password), and the data directory itself: readable by the service's user only.

A secret file is created with mode 0600 in the same call that creates it (`O_CREAT | O_EXCL`),
so there is no moment when it exists with the umask's permissions; two processes starting
together agree on one secret (the loser of the create reads the winner's)."""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

_WAIT_FOR_WRITER_S = 2.0


def private_dir(path: Path) -> Path:
    """`path`, created 0700 when it does not exist yet (an existing directory is left as the
    operator set it)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def secret_file(path: Path, nbytes: int) -> str:
    """The secret stored at `path`; a new random one (url-safe, from `nbytes` bytes) the first time."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as out:
        out.write(value)
        out.flush()
        os.fsync(out.fileno())
    return value


def _read(path: Path) -> str:
    deadline = time.monotonic() + _WAIT_FOR_WRITER_S
    while True:  # another process may have created it an instant ago and not written it yet
        value = path.read_text().strip()
        if value or time.monotonic() >= deadline:
            if not value:
                raise RuntimeError(f"the secret file {path} is empty: delete it to make a new one")
            return value
        time.sleep(0.01)
