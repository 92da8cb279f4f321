"""Download model weights once, or take torch hub's copy: streamed, resumable, checksum-verified."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

import filelock

from . import digest
from .errors import FetchError
from .registry import ModelSpec, get_spec

log = logging.getLogger(__name__)

MIRROR_ENV = "STYLESWEEP_WEIGHTS_URL"
DIR_ENV = "STYLESWEEP_WEIGHTS_DIR"

_CHUNK = 1 << 20
# A cut connection is resumed as long as each attempt brings new bytes; attempts that bring
# none are retried this many times with a growing pause before the URL is given up.
_MAX_STALLS = 3
_MAX_ATTEMPTS = 30
_LOG_EVERY_S = 5.0
_USER_AGENT = "stylesweep-fetch (python urllib)"
# Seconds to wait for a connection or for the next bytes (`stylesweep fetch --timeout`).
TIMEOUT_S = 30.0


def default_weights_dir() -> Path:
    """$STYLESWEEP_WEIGHTS_DIR, else $XDG_CACHE_HOME/stylesweep/weights, else ~/.cache/..."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "stylesweep" / "weights"


def weights_path(spec: ModelSpec, dest: str | os.PathLike[str] | None = None) -> Path:
    """Where the weight file of `spec` lives, or will live once fetched."""
    if spec.stand_in or spec.filename is None:
        raise FetchError(f"model {spec.name} needs no weight file")
    folder = Path(dest).expanduser() if dest is not None else default_weights_dir()
    return folder / spec.filename


def candidate_urls(spec: ModelSpec, mirror: str | None = None) -> list[str]:
    """The URLs to try, in order: the mirror's, then the registry's.

    The mirror (the argument, else $STYLESWEEP_WEIGHTS_URL) is a base URL (http, https or file)
    or a local folder, under which the file is looked up by its name.
    """
    base = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    urls = []
    if base and spec.filename:
        if "://" not in base:
            base = Path(base).expanduser().resolve().as_uri()
        urls.append(base.rstrip("/") + "/" + urllib.parse.quote(spec.filename))
    return urls + [u for u in spec.urls if u not in urls]


def fetch(
    model: str | ModelSpec,
    dest: str | os.PathLike[str] | None = None,
    *,
    verify: bool = False,
    mirror: str | None = None,
    progress: bool | None = None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """The path of a verified weight file for `model`, downloading it when absent.

    Args:
        model: a registry name or a ModelSpec.
        dest: the folder; default `default_weights_dir()`.
        verify: hash a present file again instead of trusting the remembered digest.
        mirror: a base URL (or folder) tried before the registry's URLs; default
            $STYLESWEEP_WEIGHTS_URL.
        progress: draw a progress bar on stderr; default: when stderr is a terminal.
        timeout: seconds to wait for a connection or for the next bytes.

    Raises:
        FetchError: the file could not be downloaded or fails its checksum; one line that
            says where to put the file by hand and where to get it.
    """
    spec = get_spec(model) if isinstance(model, str) else model
    path = weights_path(spec, dest)
    try:
        # No lock on this path: the file only ever appears complete (os.replace), so a
        # reader never sees a partial one, and a read-only shared folder works.
        if path.exists():
            _check_present(spec, path, refresh=verify)
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            # Another process may have finished the download while we waited for the lock.
            if path.exists():
                _check_present(spec, path, refresh=verify)
                return path
            if not _from_torch_hub(spec, path):
                _download(spec, path, candidate_urls(spec, mirror), progress, timeout)
    except OSError as exc:
        # Local trouble (permissions, a full disk); network errors were turned into words.
        raise FetchError(
            f"{exc.filename or path.parent}: {exc.strerror or exc}; choose another folder "
            f"with --dest or ${DIR_ENV}, or put the file at {path} by hand"
        ) from exc
    return path


# ---- checks


def _expected(spec: ModelSpec) -> str:
    if spec.sha256:
        return spec.sha256.lower()
    if spec.sha256_prefix:
        return f"{spec.sha256_prefix}... (prefix from the file name)"
    return "unknown"


def _matches(spec: ModelSpec, actual: str) -> bool:
    if spec.sha256:
        return actual == spec.sha256.lower()
    if spec.sha256_prefix:
        return actual.startswith(spec.sha256_prefix)
    log.warning("%s: no checksum known for model %s; not verified", spec.filename, spec.name)
    return True


def _check_present(spec: ModelSpec, path: Path, *, refresh: bool) -> None:
    # A bad file is left where it is, not deleted: it may be one the user put there by hand,
    # and deleting 500 MB behind their back is worse than asking them to.
    redo = f"delete it and run `stylesweep fetch {spec.name}` again"
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        raise FetchError(
            f"{path}: {size} bytes, expected {spec.size}; it is incomplete or another file: {redo}"
        )
    actual = digest.cached_sha256(path, refresh=refresh)
    if not _matches(spec, actual):
        raise FetchError(
            f"{path}: sha256 {actual} does not match the expected {_expected(spec)}; "
            f"the file is corrupt or another file: {redo}"
        )
    log.debug("%s: present and verified", path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold `<path>.lock` so only one process downloads the file; the lock file goes with it."""
    lock_path = path.with_name(path.name + ".lock")
    lock = filelock.FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.info("waiting for another process fetching %s (lock %s)", path.name, lock_path)
        lock.acquire()
    try:
        yield
    finally:
        # Deleted while still held, so the folder is left as it was: a process waiting on this
        # file that then locks it finds it unlinked and locks a new one (filelock checks), so two
        # processes never hold the lock at once. Windows refuses, and filelock deletes it there.
        with contextlib.suppress(OSError):
            lock_path.unlink()
        lock.release()


# ---- torch hub's copy


def _torch_checkpoints() -> Path:
    """torch hub's checkpoint folder, `torch.hub.get_dir()/checkpoints`, without importing torch."""
    hub = sys.modules.get("torch.hub")
    if hub is not None:
        # Only a torch already imported knows a folder set by torch.hub.set_dir().
        return Path(hub.get_dir(), "checkpoints")
    # torch.hub._get_torch_home(), spelled as torch spells it.
    cache = os.getenv("XDG_CACHE_HOME", "~/.cache")
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return Path(home, "hub", "checkpoints")


def _from_torch_hub(spec: ModelSpec, path: Path) -> bool:
    """Put torch hub's copy of the file at `path` if torch downloaded one that passes our checksum.

    The copy is hard-linked: no second 548 MB and no time, and torch replaces files rather than
    rewriting them, so the link never changes under us. Where a link cannot be made (another
    filesystem, a file of another user) it is copied. The digest is taken of the placed file.
    """
    assert spec.filename is not None
    source = _torch_checkpoints() / spec.filename
    if not source.is_file():
        return False
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        size = source.stat().st_size
        if spec.size is not None and size != spec.size:
            return _ignored(source, f"{size} bytes, expected {spec.size}")
        how = _link_or_copy(source, tmp)
        actual = digest.sha256_file(tmp)
        if not _matches(spec, actual):
            return _ignored(
                source, f"sha256 {actual} does not match the expected {_expected(spec)}"
            )
        os.replace(tmp, path)
    except OSError as exc:
        return _ignored(source, f"cannot use it ({exc.strerror or exc})")
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    digest.remember_sha256(path, actual)
    log.info("%s: verified and taken from torch's cache (%s of %s)", path, how, source)
    return True


def _ignored(source: Path, why: str) -> bool:
    log.warning("%s: %s; ignored, downloading instead", source, why)
    return False


def _link_or_copy(source: Path, target: Path) -> str:
    """Hard-link `source` as `target`, else copy it; returns which was done."""
    with contextlib.suppress(FileNotFoundError):
        target.unlink()  # left by a process with our pid that was killed
    try:
        os.link(source, target)
        return "hard link"
    except OSError:
        shutil.copyfile(source, target)
        return "copy"


# ---- download


class _Retry(Exception):
    """A transient failure: the same URL is tried again, resuming where it stopped."""


class _GiveUp(Exception):
    """A failure of this URL that retrying will not fix: move on to the next URL."""


class _RangeNotSatisfiable(Exception):
    """HTTP 416: the .part is already as long as the file, or longer."""


class _Part:
    """The temporary `<file>.part` and the running sha256 of its bytes."""

    def __init__(self, path: Path):
        self.path = path
        self.hasher = hashlib.sha256()
        self.size = 0

    def sync(self) -> int:
        """Make the digest cover the bytes on disk (a .part left by an earlier process)."""
        on_disk = self.path.stat().st_size if self.path.exists() else 0
        if on_disk != self.size:
            self.hasher, self.size = hashlib.sha256(), 0
            with open(self.path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    self.hasher.update(chunk)
                    self.size += len(chunk)
        return self.size

    def reset(self) -> None:
        self.path.write_bytes(b"")
        self.hasher, self.size = hashlib.sha256(), 0

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        self.hasher, self.size = hashlib.sha256(), 0


def _download(
    spec: ModelSpec, path: Path, urls: list[str], progress: bool | None, timeout: float
) -> None:
    assert spec.filename is not None
    by_hand = (
        f"get it by hand from {' or '.join(spec.urls or urls) or 'its publisher'} "
        f"and put it at {path}"
    )
    if not urls:
        raise FetchError(f"{spec.filename}: no URL to download it from; {by_hand}")
    if progress is None:
        progress = sys.stderr.isatty()
    part = _Part(path.with_name(path.name + ".part"))
    failures = []
    for url in urls:
        try:
            _download_from(url, part, spec, progress, timeout)
        except _GiveUp as exc:
            failures.append(f"{url}: {exc}")
            if len(urls) > 1:
                log.warning("%s: %s", url, exc)
            continue
        actual = part.hasher.hexdigest()
        if not _matches(spec, actual):
            part.remove()
            failures.append(
                f"{url}: sha256 {actual} does not match the expected {_expected(spec)} "
                f"(download removed)"
            )
            log.warning("%s", failures[-1])
            continue
        os.replace(part.path, path)
        digest.remember_sha256(path, actual)
        log.info("%s: downloaded and verified (%s)", path, _mb(part.size))
        return
    if part.size == 0:
        # A connection that died before the first byte: nothing to resume, so nothing is left.
        part.remove()
    raise FetchError(f"could not download {spec.filename}: {'; '.join(failures)}; {by_hand}")


def _download_from(url: str, part: _Part, spec: ModelSpec, progress: bool, timeout: float) -> None:
    """Fill `part` from `url`, resuming after cut connections; raise _GiveUp on failure."""
    log.info("downloading %s from %s", part.path.name.removesuffix(".part"), url)
    stalls = 0
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        before = part.sync()
        try:
            _attempt(url, part, spec, progress, timeout)
            return
        except _Retry as exc:
            why = str(exc)
        if part.size != before:  # new bytes, or a restart from zero
            stalls = 0
        else:
            stalls += 1
            if stalls >= _MAX_STALLS:
                raise _GiveUp(why)
            time.sleep(0.5 * 2**stalls)
        log.info("%s: %s at %s; resuming (attempt %d)", url, why, _mb(part.size), attempt + 1)
    raise _GiveUp(f"gave up after {_MAX_ATTEMPTS} attempts ({why})")


def _attempt(url: str, part: _Part, spec: ModelSpec, progress: bool, timeout: float) -> None:
    """One request from `part.size` to the end; raises _Retry or _GiveUp."""
    try:
        _receive(url, part, spec, progress, timeout)
    except _RangeNotSatisfiable:
        # A .part left complete by a process killed before the rename, or a stale longer
        # one: keep it if its digest is right, else start again from zero.
        if _matches(spec, part.hasher.hexdigest()):
            return
        part.reset()
        raise _Retry("the partial download does not fit the file; starting again") from None


def _receive(url: str, part: _Part, spec: ModelSpec, progress: bool, timeout: float) -> None:
    offset = part.size
    with _open(url, offset, timeout) as (stream, start, total):
        if start != offset:
            # The source cannot resume (a 200 to a Range request): start again from zero.
            log.info("%s: cannot resume at %s; downloading from the start", url, _mb(offset))
            part.reset()
        if spec.size is not None and total is not None and total != spec.size:
            raise _GiveUp(f"the file there has {total} bytes, expected {spec.size}")
        total = total if total is not None else spec.size
        bar = _Progress(part.path.name.removesuffix(".part"), total, part.size, progress)
        try:
            with open(part.path, "ab") as f:
                while True:
                    try:
                        chunk = stream.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Retry(_describe(exc)) from exc
                    if not chunk:
                        break
                    f.write(chunk)
                    part.hasher.update(chunk)
                    part.size += len(chunk)
                    bar.update(part.size)
        finally:
            bar.close()
        # urllib returns a short body without complaint when the connection drops early.
        if total is not None and part.size < total:
            raise _Retry(f"connection closed after {part.size} of {total} bytes")


@contextlib.contextmanager
def _open(url: str, offset: int, timeout: float) -> Iterator[tuple[IO[bytes], int, int | None]]:
    """Yield (stream, its start offset, the file's total size or None)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "file":
        yield from _open_file(url, offset)
        return
    if scheme not in ("http", "https"):
        raise _GiveUp(f"unsupported URL scheme {scheme!r}")
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            raise _RangeNotSatisfiable from exc
        if exc.code in (408, 429) or exc.code >= 500:
            raise _Retry(_describe(exc)) from exc
        raise _GiveUp(_describe(exc)) from exc
    except urllib.error.URLError as exc:
        # No DNS, nothing listening, or no answer within the timeout: retrying will not help.
        permanent = socket.gaierror | ConnectionRefusedError | TimeoutError | ssl.CertificateError
        if isinstance(exc.reason, permanent):
            raise _GiveUp(_describe(exc)) from exc
        raise _Retry(_describe(exc)) from exc
    except TimeoutError as exc:
        raise _GiveUp(_describe(exc)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Retry(_describe(exc)) from exc
    with resp:
        start, total = 0, None
        length = resp.headers.get("Content-Length")
        if resp.status == 206:
            m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if m:
                start = int(m.group(1))
                total = int(m.group(2)) if m.group(2) != "*" else None
            if total is None and length is not None:
                total = start + int(length)
            if start != offset:
                raise _GiveUp(f"asked for bytes from {offset}, the server sent from {start}")
        elif length is not None:
            total = int(length)
        yield resp, start, total


def _open_file(url: str, offset: int) -> Iterator[tuple[IO[bytes], int, int | None]]:
    source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    try:
        f = open(source, "rb")
    except FileNotFoundError as exc:
        raise _GiveUp("no such file") from exc
    except OSError as exc:
        raise _GiveUp(exc.strerror or str(exc)) from exc
    with f:
        total = os.fstat(f.fileno()).st_size
        start = offset if offset <= total else 0
        f.seek(start)
        yield f, start, total


def _describe(exc: BaseException) -> str:
    """A short phrase for a network error, for the one-line message."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            return f"host not found, no network? ({reason.strerror or reason})"
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, TimeoutError):
            return "timed out"
        if isinstance(reason, BaseException):
            return _describe(reason)
        return str(reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# ---- progress


def _mb(n: int | float) -> str:
    return f"{n / 1e6:.1f} MB"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class _Progress:
    """A bar on stderr (bytes, rate, ETA), or a log line every few seconds."""

    def __init__(self, name: str, total: int | None, start: int, bar: bool):
        self.name, self.total, self.start, self.bar = name, total, start, bar
        self.t0 = self.last = time.monotonic()
        self.done = start
        self.stream: TextIO = sys.stderr

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        rate = (self.done - self.start) / elapsed
        text = f"{self.name}: {_mb(self.done)}"
        if self.total:
            text += f" of {_mb(self.total)} ({100 * self.done / self.total:.0f}%)"
        text += f", {rate / 1e6:.1f} MB/s"
        if self.total and rate > 0:
            text += f", ETA {_clock((self.total - self.done) / rate)}"
        return text

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.bar and now - self.last >= 0.1:
            self.last = now
            self.stream.write("\r" + self._line().ljust(78))
            self.stream.flush()
        elif not self.bar and now - self.last >= _LOG_EVERY_S:
            self.last = now
            log.info("%s", self._line())

    def close(self) -> None:
        if self.bar:
            self.stream.write("\r" + self._line().ljust(78) + "\n")
            self.stream.flush()
