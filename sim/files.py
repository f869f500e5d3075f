"""Output files written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb", **open_args) -> Iterator:
    """Open a temporary file beside ``path`` and rename it onto ``path`` when the block
    ends without an exception (removed otherwise). Its folder is created; its
    permissions follow the umask, as a file made by ``open`` would."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(scratch, 0o666 & ~umask)
    try:
        with os.fdopen(handle, mode, **open_args) as out:
            yield out
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
