"""Weight download: against a real HTTP server on 127.0.0.1 that can cut, ignore Range and wait."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch.hub

import stylesweep.digest
import stylesweep.models
from stylesweep import cli
from stylesweep import fetch as fetch_mod
from stylesweep.errors import FetchError
from stylesweep.fetch import default_weights_dir, fetch, weights_path
from stylesweep.models import ModelSpec

REPO = Path(__file__).resolve().parents[1]
DATA = random.Random(0).randbytes(200_000)
SHA = hashlib.sha256(DATA).hexdigest()
FILENAME = f"tiny-{SHA[:10]}.pth"


@dataclass
class Server:
    """What the test server serves and what it saw."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    bodies: int = 0  # responses that carried file bytes
    cut_after: int | None = None  # the next body is cut after this many bytes
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    gate: threading.Event | None = None  # hold every body until set
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str = FILENAME, folder: str = "models") -> str:
        return f"{self.base}/{folder}/{name}"


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        st: Server = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        with st.lock:
            st.requests.append((self.path, rng))
        body = st.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if rng and not st.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))  # type: ignore[union-attr]
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if st.gate is not None:
            st.gate.wait(30)
        with st.lock:
            cut, st.cut_after = st.cut_after, None
            st.bodies += 1
        # HTTP/1.0: returning closes the connection, so a cut body is a dropped connection.
        self.wfile.write(body[start:] if cut is None else body[start : start + cut])


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = state  # type: ignore[attr-defined]
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    state.files[f"/models/{FILENAME}"] = DATA
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    if state.gate is not None:
        state.gate.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dead_url() -> str:
    """A URL on a port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/models/{FILENAME}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No proxy may route 127.0.0.1 elsewhere; no user mirror or weights folder leaks in.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv(fetch_mod.MIRROR_ENV, raising=False)
    monkeypatch.setenv(fetch_mod.DIR_ENV, str(tmp_path / "default-weights"))
    # Nor the user's torch cache, where a file of a registry's name would be taken.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each full read-and-hash of a file through stylesweep.digest."""
    seen: list[str] = []
    real = stylesweep.digest.sha256_file

    def counting(path: str | os.PathLike[str]) -> str:
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(stylesweep.digest, "sha256_file", counting)
    return seen


def spec_for(*urls: str, sha256: str | None = SHA, size: int | None = len(DATA), **kw) -> ModelSpec:
    fields = {"filename": FILENAME, **kw}
    return ModelSpec(
        name="tiny", arch="vgg19", convention="caffe", urls=urls, sha256=sha256, size=size, **fields
    )


def leftovers(folder: Path) -> list[str]:
    """Temporary and lock files that a finished fetch must not leave behind."""
    return sorted(
        p.name for p in folder.iterdir() if p.suffix in (".part", ".lock") or ".tmp" in p.name
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ---- downloads


def test_clean_download(server: Server, tmp_path: Path, hashes: list[str]) -> None:
    path = fetch(spec_for(server.url()), tmp_path)
    assert path == tmp_path / FILENAME
    assert path.read_bytes() == DATA
    assert server.requests == [(f"/models/{FILENAME}", None)]
    assert leftovers(tmp_path) == []
    # The digest computed while downloading is remembered: the next run reads nothing.
    assert fetch(spec_for(server.url()), tmp_path) == path
    assert hashes == []
    assert len(server.requests) == 1


def test_checks_only_the_name_prefix_when_no_full_digest(server: Server, tmp_path: Path) -> None:
    path = fetch(spec_for(server.url(), sha256=None, size=None), tmp_path)
    assert path.read_bytes() == DATA


def test_cut_connection_resumes_with_range(server: Server, tmp_path: Path) -> None:
    server.cut_after = 80_000
    path = fetch(spec_for(server.url()), tmp_path)
    assert path.read_bytes() == DATA
    assert [rng for _, rng in server.requests] == [None, "bytes=80000-"]
    assert leftovers(tmp_path) == []


def test_resumes_a_part_left_by_a_killed_process(server: Server, tmp_path: Path) -> None:
    (tmp_path / f"{FILENAME}.part").write_bytes(DATA[:50_000])
    path = fetch(spec_for(server.url()), tmp_path)
    assert path.read_bytes() == DATA
    assert [rng for _, rng in server.requests] == ["bytes=50000-"]


def test_server_ignoring_range_restarts_from_zero(server: Server, tmp_path: Path) -> None:
    server.ignore_range = True
    (tmp_path / f"{FILENAME}.part").write_bytes(DATA[:50_000])
    path = fetch(spec_for(server.url()), tmp_path)
    assert path.read_bytes() == DATA
    assert [rng for _, rng in server.requests] == ["bytes=50000-"]


@pytest.mark.parametrize(
    "stale",
    [DATA, b"x" * (len(DATA) + 10)],
    ids=["complete-part-kept", "overlong-part-restarted"],
)
def test_range_not_satisfiable(server: Server, tmp_path: Path, stale: bytes) -> None:
    (tmp_path / f"{FILENAME}.part").write_bytes(stale)
    assert fetch(spec_for(server.url(), size=None), tmp_path).read_bytes() == DATA


@pytest.mark.parametrize(
    "spec_kw",
    [
        {"sha256": "0" * 64},
        {"sha256": None, "filename": "tiny-00000000.pth"},
    ],
    ids=["full-digest", "name-prefix"],
)
def test_wrong_checksum_leaves_nothing(server: Server, tmp_path: Path, spec_kw: dict) -> None:
    name = spec_kw.get("filename", FILENAME)
    server.files[f"/models/{name}"] = DATA
    spec = spec_for(server.url(name), **spec_kw)
    with pytest.raises(FetchError) as err:
        fetch(spec, tmp_path)
    message = str(err.value)
    assert SHA in message and "00000000" in message
    assert str(tmp_path / spec.filename) in message and "\n" not in message
    assert not (tmp_path / spec.filename).exists()
    assert leftovers(tmp_path) == []


def test_404_says_where_to_put_the_file(server: Server, tmp_path: Path) -> None:
    url = server.url(folder="nowhere")
    with pytest.raises(FetchError) as err:
        fetch(spec_for(url), tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "HTTP 404" in message
    assert f"put it at {tmp_path / FILENAME}" in message
    assert f"from {url}" in message
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("source", "sha256"),
    [("nothing listening", SHA), ("not found", SHA), ("served", "0" * 64)],
    ids=["no-network", "404", "wrong-checksum"],
)
def test_a_failed_fetch_leaves_the_folder_as_it_was(
    server: Server, dead_url: str, tmp_path: Path, source: str, sha256: str
) -> None:
    url = {
        "nothing listening": dead_url,
        "not found": server.url(folder="nowhere"),
        "served": server.url(),
    }[source]
    dest = tmp_path / "w"
    dest.mkdir()
    (dest / "notes.txt").write_text("the user's")
    before = snapshot(dest)
    with pytest.raises(FetchError):
        fetch(spec_for(url, sha256=sha256), dest)
    assert snapshot(dest) == before
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]


def test_offline_cli_fetch_leaves_an_empty_folder_empty(
    dead_url: str, tmp_path: Path, tiny_registry, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_registry(spec_for(dead_url))
    dest = tmp_path / "w"
    dest.mkdir()
    assert cli.main(["fetch", "tiny", "--dest", str(dest)]) == 2
    assert list(dest.iterdir()) == []


def test_refused_connection(dead_url: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="connection refused") as err:
        fetch(spec_for(dead_url), tmp_path)
    assert "\n" not in str(err.value) and str(tmp_path / FILENAME) in str(err.value)


def test_a_wrong_size_on_the_server_is_refused_before_downloading(
    server: Server, tmp_path: Path
) -> None:
    with pytest.raises(FetchError, match=f"has {len(DATA)} bytes, expected 123"):
        fetch(spec_for(server.url(), size=123), tmp_path)
    assert not (tmp_path / FILENAME).exists() and leftovers(tmp_path) == []


def test_progress_bar_on_a_terminal(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch(spec_for(server.url()), tmp_path, progress=True)
    bar = capsys.readouterr().err
    assert f"\r{FILENAME}: 0.2 MB of 0.2 MB (100%)" in bar and "MB/s" in bar


def test_log_lines_off_a_terminal(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(fetch_mod, "_LOG_EVERY_S", 0.0)
    monkeypatch.setattr(fetch_mod, "_CHUNK", 50_000)
    caplog.set_level("INFO", logger="stylesweep.fetch")
    fetch(spec_for(server.url()), tmp_path, progress=False)
    assert capsys.readouterr().err == ""
    progress = [r.getMessage() for r in caplog.records if "MB/s" in r.getMessage()]
    assert len(progress) >= 3 and "ETA" in progress[0]


def test_local_trouble_is_one_clear_line(server: Server, tmp_path: Path) -> None:
    # A directory where the lock file goes: as unwritable as a read-only folder, even for root.
    (tmp_path / f"{FILENAME}.lock").mkdir()
    with pytest.raises(FetchError, match=f"Is a directory.*put the file at {tmp_path / FILENAME}"):
        fetch(spec_for(server.url()), tmp_path)


# ---- present files


def test_present_file_is_not_downloaded_and_hashed_once(
    server: Server, tmp_path: Path, hashes: list[str]
) -> None:
    (tmp_path / FILENAME).write_bytes(DATA)  # put there by hand
    spec = spec_for(server.url())
    fetch(spec, tmp_path)
    fetch(spec, tmp_path)
    assert server.requests == []
    assert hashes == [str(tmp_path / FILENAME)]
    fetch(spec, tmp_path, verify=True)
    assert len(hashes) == 2


def test_verify_detects_corruption_the_cache_would_hide(tmp_path: Path, dead_url: str) -> None:
    path = tmp_path / FILENAME
    path.write_bytes(DATA)
    spec = spec_for(dead_url)
    fetch(spec, tmp_path)
    # Flip one byte but keep size and mtime, so the remembered digest still looks valid.
    st = path.stat()
    path.write_bytes(DATA[:1000] + bytes([DATA[1000] ^ 1]) + DATA[1001:])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fetch(spec, tmp_path) == path
    with pytest.raises(FetchError, match=f"does not match the expected {SHA}.*delete it"):
        fetch(spec, tmp_path, verify=True)
    assert path.exists()  # left for the user to look at


def test_present_file_of_the_wrong_size(tmp_path: Path, dead_url: str) -> None:
    (tmp_path / FILENAME).write_bytes(DATA[:-1])
    with pytest.raises(FetchError, match=f"{len(DATA) - 1} bytes, expected {len(DATA)}"):
        fetch(spec_for(dead_url), tmp_path)


# ---- torch's cache


@pytest.fixture
def torch_cache(tmp_path: Path) -> Path:
    """torch hub's checkpoint folder under the TORCH_HOME that _isolated_env set."""
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def _no_hard_links(src: object, dst: object, **kw: object) -> None:
    raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))


@pytest.mark.parametrize("linked", [True, False], ids=["hard-link", "copy-across-filesystems"])
def test_torch_s_copy_is_used_without_downloading(
    server: Server,
    tmp_path: Path,
    torch_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    hashes: list[str],
    linked: bool,
) -> None:
    (torch_cache / FILENAME).write_bytes(DATA)
    if not linked:
        monkeypatch.setattr(os, "link", _no_hard_links)
    path = fetch(spec_for(server.url()), tmp_path / "w")
    assert path == tmp_path / "w" / FILENAME and path.read_bytes() == DATA
    assert server.requests == []
    assert path.samefile(torch_cache / FILENAME) == linked
    assert leftovers(tmp_path / "w") == []
    # Hashed once, when placed; the digest is remembered for the next run.
    fetch(spec_for(server.url()), tmp_path / "w")
    assert len(hashes) == 1 and server.requests == []


@pytest.mark.parametrize("bad", [DATA[::-1], DATA[:-1]], ids=["wrong-digest", "wrong-size"])
def test_a_bad_file_in_torch_s_cache_is_ignored(
    server: Server,
    tmp_path: Path,
    torch_cache: Path,
    caplog: pytest.LogCaptureFixture,
    bad: bytes,
) -> None:
    (torch_cache / FILENAME).write_bytes(bad)
    caplog.set_level("WARNING", logger="stylesweep.fetch")
    path = fetch(spec_for(server.url()), tmp_path / "w")
    assert path.read_bytes() == DATA and len(server.requests) == 1
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(f"{torch_cache / FILENAME}: ")
    assert warning.endswith("; ignored, downloading instead")
    assert (torch_cache / FILENAME).read_bytes() == bad  # torch's file is not ours to touch
    assert leftovers(tmp_path / "w") == []


@pytest.mark.parametrize(
    "env",
    [{"TORCH_HOME": "/t"}, {"XDG_CACHE_HOME": "/x"}, {"HOME": "/h"}],
    ids=["TORCH_HOME", "XDG_CACHE_HOME", "HOME"],
)
def test_torch_s_cache_is_found_where_torch_puts_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for var in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    expected = Path(torch.hub.get_dir(), "checkpoints")
    assert fetch_mod._torch_checkpoints() == expected
    # The same folder where torch is not imported (`stylesweep fetch` does not import it).
    monkeypatch.delitem(sys.modules, "torch.hub")
    assert fetch_mod._torch_checkpoints() == expected


# ---- mirrors


def test_file_mirror_is_tried_first(tmp_path: Path, dead_url: str) -> None:
    mirror = tmp_path / "mirror dir"
    mirror.mkdir()
    (mirror / FILENAME).write_bytes(DATA)
    path = fetch(spec_for(dead_url), tmp_path / "w", mirror=mirror.as_uri())
    assert path.read_bytes() == DATA
    # A plain folder works as a mirror too.
    path.unlink()
    assert fetch(spec_for(dead_url), tmp_path / "w", mirror=str(mirror)).read_bytes() == DATA


def test_file_mirror_with_a_bad_copy_is_rejected(tmp_path: Path, dead_url: str) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / FILENAME).write_bytes(DATA[::-1])
    with pytest.raises(FetchError, match=f"does not match the expected {SHA}.*connection refused"):
        fetch(spec_for(dead_url, size=None), tmp_path / "w", mirror=mirror.as_uri())
    assert leftovers(tmp_path / "w") == []


def test_env_mirror_is_tried_before_the_registry(
    server: Server, tmp_path: Path, dead_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files[f"/mirror/{FILENAME}"] = DATA
    monkeypatch.setenv(fetch_mod.MIRROR_ENV, f"{server.base}/mirror/")
    assert fetch(spec_for(dead_url), tmp_path).read_bytes() == DATA
    assert server.requests == [(f"/mirror/{FILENAME}", None)]


def test_mirror_without_the_file_falls_back_to_the_registry(server: Server, tmp_path: Path) -> None:
    path = fetch(spec_for(server.url()), tmp_path, mirror=f"{server.base}/empty")
    assert path.read_bytes() == DATA
    assert [p for p, _ in server.requests] == [f"/empty/{FILENAME}", f"/models/{FILENAME}"]


# ---- two processes at once

_CHILD = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, format="%(message)s")
from stylesweep.fetch import fetch
from stylesweep.models import ModelSpec
a = json.loads(sys.argv[1])
spec = ModelSpec(name="tiny", arch="vgg19", convention="caffe", filename=a["filename"],
                 urls=(a["url"],), sha256=a["sha256"])
print(fetch(spec, a["dest"], progress=False), flush=True)
"""


def test_a_process_and_a_thread_fetch_one_file_once(server: Server, tmp_path: Path) -> None:
    # This process takes the lock first and the server holds its body until the other process
    # is seen waiting on the lock. (One child, not two: each child spends seconds importing.)
    server.gate = threading.Event()
    spec = spec_for(server.url(), size=None)
    results: list[object] = []

    def in_thread() -> None:
        try:
            results.append(fetch(spec, tmp_path, progress=False))
        except Exception as exc:
            results.append(exc)

    here = threading.Thread(target=in_thread, daemon=True)
    here.start()
    wait_for(lambda: server.requests, "the first request")
    arg = json.dumps(
        {"filename": FILENAME, "url": server.url(), "sha256": SHA, "dest": str(tmp_path)}
    )
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, arg],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    logs: list[str] = []
    reader = threading.Thread(target=lambda: logs.extend(child.stderr), daemon=True)
    reader.start()

    def child_waits() -> bool:
        assert child.poll() is None, logs  # it must not finish, or fail, before waiting
        return any("waiting for another process" in line for line in logs)

    wait_for(child_waits, "the other process to wait on the lock")
    server.gate.set()
    out, _ = child.communicate(timeout=60)
    here.join(30)
    reader.join(5)
    assert child.returncode == 0, logs
    assert out.strip() == str(tmp_path / FILENAME)
    assert results == [tmp_path / FILENAME]
    assert server.bodies == 1
    assert (tmp_path / FILENAME).read_bytes() == DATA
    assert leftovers(tmp_path) == []


def test_the_lock_admits_one_at_a_time_and_leaves_no_file(tmp_path: Path) -> None:
    # Each holder deletes the lock file before letting go; the next must still wait its turn.
    path = tmp_path / FILENAME
    inside: list[int] = []
    overlaps: list[int] = []

    def worker() -> None:
        for _ in range(10):
            with fetch_mod._locked(path):
                inside.append(1)
                overlaps.append(len(inside))
                time.sleep(0.002)
                inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(overlaps) == 30 and max(overlaps) == 1
    assert list(tmp_path.iterdir()) == []


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# ---- paths, stand-in, command line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"STYLESWEEP_WEIGHTS_DIR": "/w", "XDG_CACHE_HOME": "/x"}, "/w"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/stylesweep/weights"),
        ({"HOME": "/h"}, "/h/.cache/stylesweep/weights"),
    ],
)
def test_default_weights_dir(monkeypatch: pytest.MonkeyPatch, env: dict, expected: str) -> None:
    for var in ("STYLESWEEP_WEIGHTS_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert default_weights_dir() == Path(expected)


def test_weights_path_defaults_to_the_weights_dir(tmp_path: Path) -> None:
    assert weights_path(spec_for()) == tmp_path / "default-weights" / FILENAME
    assert weights_path(spec_for(), tmp_path) == tmp_path / FILENAME


def test_the_random_model_needs_no_file() -> None:
    with pytest.raises(FetchError, match="needs no weight file"):
        fetch("random")


@pytest.fixture
def tiny_registry(monkeypatch: pytest.MonkeyPatch):
    def register(spec: ModelSpec) -> None:
        monkeypatch.setitem(stylesweep.models.REGISTRY, spec.name, spec)

    return register


def test_cli_fetches_and_prints_the_path(
    server: Server, tmp_path: Path, tiny_registry, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_registry(spec_for(server.url()))
    assert cli.main(["fetch", "tiny", "random", "--dest", str(tmp_path), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / FILENAME)]


def test_cli_error_is_one_line_exit_2(
    dead_url: str, tmp_path: Path, tiny_registry, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_registry(spec_for(dead_url))
    assert cli.main(["fetch", "tiny", "--dest", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("stylesweep fetch: error:")]
    assert len(lines) == 1 and "connection refused" in lines[0] and dead_url in lines[0]
    assert "Traceback" not in err
    with pytest.raises(FetchError):
        cli.main(["fetch", "tiny", "--dest", str(tmp_path), "--debug"])


def test_cli_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fetch", "vgg99"]) == 2
    assert "unknown model 'vgg99'" in capsys.readouterr().err


def test_cli_fetches_the_models_after_one_that_fails(
    server: Server, tmp_path: Path, tiny_registry, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_registry(spec_for(server.url()))
    assert cli.main(["fetch", "vgg99", "tiny", "--dest", str(tmp_path), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(tmp_path / FILENAME)]
    [line] = err.splitlines()
    assert line.startswith("stylesweep fetch: error: model: unknown model 'vgg99'")


def test_cli_help_names_the_library_s_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["fetch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"${fetch_mod.DIR_ENV}" in text and f"${fetch_mod.MIRROR_ENV}" in text
    assert f"seconds to wait for data ({fetch_mod.TIMEOUT_S:g})" in text
