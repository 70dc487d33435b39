"""Log lines: information on standard output, warnings and errors on standard error, third-party INFO hidden
unless --verbose; and atomic writes give files the umask's mode."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from core.logs import setup_logging
from shards.writer import atomic_write


@pytest.fixture(autouse=True)
def restore_logging():
    yield
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])
    for name in ("pros", "curation", "training", "downstream", "shards"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def emit() -> None:
    logging.getLogger("training.loop").info("our info line")
    logging.getLogger("training.loop").warning("our warning line")
    logging.getLogger("curation.pipeline").error("our error line")
    logging.getLogger("faiss.loader").info("Could not load library with AVX2 support")
    logging.getLogger("timm.models._helpers").info("Loaded state_dict from checkpoint")
    logging.getLogger("somelib").warning("a library warning")


def test_warnings_and_errors_go_to_stderr_and_information_to_stdout(capsys):
    setup_logging()
    emit()
    out, err = capsys.readouterr()
    assert "our info line" in out and "warning" not in out and "error" not in out
    assert "our warning line" in err and "our error line" in err and "a library warning" in err
    assert "our info line" not in err


def test_third_party_info_is_hidden_unless_verbose(capsys):
    setup_logging()
    emit()
    out, err = capsys.readouterr()
    assert "AVX2" not in out + err and "from checkpoint" not in out + err
    setup_logging(verbose=True)
    emit()
    out, _ = capsys.readouterr()
    assert "AVX2" in out and "from checkpoint" in out


def test_quiet_ranks_log_only_problems(capsys):
    setup_logging(quiet=True)
    emit()
    out, err = capsys.readouterr()
    assert "our info line" not in out and "our warning line" in err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_gives_the_umask_mode_even_over_a_leftover_tmp(tmp_path, umask, mode):
    leftover = tmp_path / "00000.tar.tmp"
    leftover.write_bytes(b"half")
    leftover.chmod(0o600 if mode != 0o600 else 0o644)  # a crashed run's tmp with another mode
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "00000.tar", b"data")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "00000.tar").stat().st_mode) == mode
    assert (tmp_path / "00000.tar").read_bytes() == b"data" and not leftover.exists()


def test_lines_into_a_file_or_pipe_are_not_wrapped(capsys):
    setup_logging()
    message = "step 120/6250  loss 6.1234  " * 8
    logging.getLogger("training.loop").info(message)
    out, _ = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1 and message.strip() in out and " INFO " in out
