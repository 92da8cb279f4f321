"""Publishing a stylize job's files into a run's folder: links, copies, and dates after the job."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from stylesweep import publish

JOB_FILES = ["final.png", "frames/0002.png", "frames/0004.png", "losses.tsv", "run.json"]


def job_folder(root: Path) -> Path:
    for name in JOB_FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
        os.utime(path, (1e9, 1e9))  # long ago: written before Snakemake dated the job
    return root


def test_every_file_is_published_at_its_place_as_a_link_dated_now(tmp_path: Path) -> None:
    job = job_folder(tmp_path / "job/style_weight-100")
    made = publish.publish(job, tmp_path / "run")
    assert [p.relative_to(tmp_path / "run").as_posix() for p in made] == sorted(JOB_FILES)
    for name in JOB_FILES:
        source, target = job / name, tmp_path / "run" / name
        assert os.path.samefile(source, target) and target.read_text() == name
        assert target.stat().st_mtime > 1e9 + 1


def test_publishing_again_replaces_the_files(tmp_path: Path) -> None:
    job = job_folder(tmp_path / "job")
    (tmp_path / "run").mkdir()
    (tmp_path / "run/final.png").write_text("an older run")
    publish.publish(job, tmp_path / "run")
    assert (tmp_path / "run/final.png").read_text() == "final.png"
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("code", [errno.EXDEV, errno.EPERM])
def test_a_file_system_that_refuses_links_gets_copies(tmp_path, monkeypatch, code) -> None:
    def refuse(source, target):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", refuse)
    job = job_folder(tmp_path / "job")
    publish.publish(job, tmp_path / "run")
    final = tmp_path / "run/final.png"
    assert final.read_text() == "final.png" and not os.path.samefile(job / "final.png", final)
    assert final.stat().st_mtime > 1e9 + 1
