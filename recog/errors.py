"""User-facing errors, and how the console scripts report them.

Every error caused by the user's input (a config value, a data file, a checkpoint, an image) derives from
RecogError and carries a message that names the file or setting, what is wrong and what to do. The console
scripts print such errors as one `error: ...` line and exit with status 2; anything else is a bug and keeps
its traceback.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable

from hydra.errors import InstantiationException
from omegaconf.errors import MissingMandatoryValue


class RecogError(ValueError):
    """An error in the user's input; the message says what to change."""


class ConfigError(RecogError):
    pass


class DataError(RecogError):
    pass


class InputReadError(RecogError):
    """An input file (image, audio) that cannot be read or decoded; the message names it and says why."""


USER_ERRORS = (RecogError, MissingMandatoryValue)


def exit_on_user_error(task: Callable) -> Callable:
    """Wrap a Hydra task: user errors become one `error:` line on stderr and exit status 2."""

    @functools.wraps(task)
    def wrapper(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except InstantiationException as error:
            if isinstance(error.__cause__, USER_ERRORS):
                fail(error.__cause__)
            raise
        except USER_ERRORS as error:
            fail(error)

    return wrapper


def fail(error: BaseException) -> None:
    message = str(error)
    if isinstance(error, MissingMandatoryValue):
        message = f"{message.splitlines()[0]}: set it on the command line, e.g. key=value"
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def read_utf8_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file (a leading byte-order mark is dropped), with errors that name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {data[error.start]:#04x}); "
                        "convert the file to UTF-8") from None
    return text.removeprefix("\ufeff").splitlines()
