"""Generated data sets in a cache folder: built once, published atomically, reused while the parameters match.

A data set is written into a temporary sibling folder and moved into place with `os.replace`, so its folder is
either absent or complete. Its COMPLETE file holds the parameters it was built with; a folder whose COMPLETE
matches is reused as it is. If another process publishes the same data set first, its copy is kept. A folder
that holds anything else (files, or a data set built with other parameters) raises FileExistsError rather
than being overwritten.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

COMPLETE = "COMPLETE"


def default_cache_dir() -> Path:
    return Path(os.environ.get("RECOG_CACHE", Path.home() / ".cache" / "recog"))


def build_once(root: str | Path, parameters: dict, write: Callable[[Path], None]) -> Path:
    """The data set at `root`, built by `write(folder)` unless root already holds it with these parameters."""
    root = Path(root)
    if is_complete(root, parameters):
        return root
    check_replaceable(root, parameters)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    staging.chmod(0o755)  # mkdtemp makes it private to the user; the data set is not
    try:
        write(staging)
        (staging / COMPLETE).write_text(json.dumps(parameters, sort_keys=True, indent=2) + "\n")
        publish(staging, root, parameters)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def is_complete(root: Path, parameters: dict) -> bool:
    """Whether root holds a finished data set built with `parameters` (compared as JSON: tuples are lists)."""
    try:
        return json.loads((root / COMPLETE).read_text()) == json.loads(json.dumps(parameters))
    except (OSError, ValueError):
        return False


def check_replaceable(root: Path, parameters: dict) -> None:
    """Refuse to replace anything but an empty folder (os.replace would too, later).

    The data set itself may have appeared since the caller looked: a racing process published it. Then
    generation goes on and `publish` keeps theirs.
    """
    if root.exists() and (not root.is_dir() or any(root.iterdir())) and not is_complete(root, parameters):
        found = "a generated data set with other parameters" if (root / COMPLETE).is_file() else "other files"
        raise FileExistsError(f"{root} holds {found}; delete it or choose another folder")


def publish(staging: Path, root: Path, parameters: dict) -> None:
    try:
        os.replace(staging, root)
    except OSError:
        if not is_complete(root, parameters):
            raise
        shutil.rmtree(staging)  # another process published the same data set first
