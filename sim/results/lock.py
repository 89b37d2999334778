"""The lock of a results folder: one salvo process writes a folder at a time, whatever the
command.

The lock is an OS file lock (`fcntl.flock`) on the file ``.NAME.lock`` beside the folder
``NAME``, not inside it: `--force` replaces the folder (deletes it, or renames a new one into
its place), and a lock file inside would go with it while it is held, so a second writer would
lock a new file and both would write. Beside the folder the lock outlives every replacement,
and it exists before the folder does. The kernel releases a flock when its process dies, so a
lock file left by a crash never blocks; the file records the holder (PID, host, command, start)
only for the message a second writer gets. A released lock deletes its file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from sim.results.files import ResultsFolderError, not_a_folder

LOCK_SUFFIX = ".lock"


class ResultsFolderLockedError(ResultsFolderError):
    """Another process holds the lock of a results folder; the message names the folder and
    the holder (its PID, host and command as the lock file records them)."""

    def __init__(self, out_dir: Path | str, lock_file: Path, holder: dict | None) -> None:
        self.lock_file = Path(lock_file)
        self.holder = holder
        super().__init__(
            out_dir,
            f"results folder {out_dir} is in use by another salvo process ({describe(holder)}; "
            f"lock {self.lock_file}); wait for it to finish, or use another --out",
        )


def describe(holder: dict | None) -> str:
    """The holder of a lock in words: 'PID 123 on host, `salvo sweep ...`, since TIME'."""
    if not holder or not isinstance(holder.get("pid"), int):
        return "a process that has not yet recorded its PID"
    words = f"PID {holder['pid']}"
    if holder.get("host"):
        words += f" on {holder['host']}"
    if holder.get("command"):
        words += f", `{holder['command']}`"
    if holder.get("started"):
        words += f", since {holder['started']}"
    return words


def lock_path(out: Path | str) -> Path:
    """The lock file of results folder `out`: ``.NAME.lock`` beside it, with links and `..`
    resolved, so that every spelling of one folder takes the same lock."""
    real = Path(out).resolve()
    if not real.name:
        raise ResultsFolderError(out, f"{out} cannot be a results folder")
    return real.parent / f".{real.name}{LOCK_SUFFIX}"


def read_holder(lock_file: Path) -> dict | None:
    """What a lock file records about its holder, or None if it records nothing readable."""
    try:
        data = json.loads(lock_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _command_line() -> str:
    """This process's command line, short: `salvo sweep ...`, `python -m sim sweep ...`."""
    if not sys.argv:
        return ""
    program = Path(sys.argv[0])
    name = f"python -m {program.parent.name}" if program.name == "__main__.py" else program.name
    return " ".join([name, shlex.join(sys.argv[1:])]).rstrip()


def _holder_record() -> bytes:
    """This process as a lock file records it (one JSON line)."""
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": _command_line(),
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return (json.dumps(record) + "\n").encode("utf-8")


def _same_file(path: Path, fd: int) -> bool:
    """Whether `path` is still the file open as `fd` (its last holder may have deleted it
    between our open and our flock)."""
    try:
        on_disk = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _make_parents(folder: Path, out: Path) -> list[Path]:
    """Create `folder` and its missing parents; return the ones created (deepest last)."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ResultsFolderError(
            out, f"cannot write results to {out}: {err.strerror or err} ({folder})"
        ) from None
    return missing


class FolderLock:
    """The lock of one results folder, held between `acquire` and `release`."""

    def __init__(self, out: Path | str) -> None:
        self.out = Path(out)
        self.path = lock_path(self.out)
        self.fd: int | None = None
        self.created: list[Path] = []  # parent folders created for the lock file

    def acquire(self) -> None:
        """Take the lock or raise: ResultsFolderLockedError if another process holds it,
        ResultsFolderError if `out` is not a folder or the lock file cannot be written.
        Creates nothing when it refuses a file, a device or a link to one."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise not_a_folder(out)
        self.created = _make_parents(self.path.parent, out)
        try:
            while True:
                fd = self._open()
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise ResultsFolderLockedError(out, self.path, read_holder(self.path)) from None
                except OSError as err:  # e.g. a filesystem without locks
                    os.close(fd)
                    raise ResultsFolderError(
                        out, f"cannot lock results folder {out}: {err.strerror} ({self.path})"
                    ) from None
                if _same_file(self.path, fd):
                    break
                os.close(fd)  # its holder deleted it as it let go: lock the file there now
            record = _holder_record()
            os.pwrite(fd, record, 0)  # over a stale record: never empty while held
            os.ftruncate(fd, len(record))
            self.fd = fd
        except BaseException:
            self._remove_parents()
            raise

    def _open(self) -> int:
        """Open (or create) the lock file, never through a link."""
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            return os.open(self.path, flags, 0o644)
        except OSError as err:
            raise ResultsFolderError(
                self.out, f"cannot write results to {self.out}: cannot create the lock file "
                f"{self.path} ({err.strerror})"
            ) from None  # fmt: skip

    def release(self) -> None:
        """Delete the lock file and let go of the lock (deleting first, while it is held, so
        that no other process can hold the file that is deleted)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            if _same_file(self.path, fd):
                with contextlib.suppress(OSError):
                    self.path.unlink()
        finally:
            os.close(fd)
        self._remove_parents()

    def _remove_parents(self) -> None:
        """Remove the parent folders `acquire` created if nothing was written in them."""
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:
                break
        self.created = []


@contextlib.contextmanager
def locked_results_folder(out: Path | str) -> Iterator[FolderLock]:
    """Hold the lock of results folder `out` for the block: the one lock every command that
    writes a results folder takes before it checks, deletes or writes anything there."""
    lock = FolderLock(out)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
