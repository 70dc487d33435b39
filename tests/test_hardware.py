"""Precision and thread defaults come from the machine, and an explicit setting always wins."""

from __future__ import annotations

import pytest

from core import hardware


@pytest.mark.parametrize(("flags", "expected"), [
    ({"avx2", "avx512f", "avx512_bf16"}, "bf16"),
    ({"avx2", "amx_bf16"}, "bf16"),
    ({"avx2", "avx512f"}, "fp32"),
    ({"avx2"}, "fp32"),
    (set(), "fp32"),
])
def test_auto_precision_on_cpu_follows_native_bf16(monkeypatch, flags, expected):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
    choice = hardware.resolve_precision("auto", "cpu")
    assert choice.value == expected
    assert choice.reason.startswith("cpu: native") == (expected == "bf16")


def test_explicit_precision_is_kept(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2"})
    assert hardware.resolve_precision("bf16", "cpu").value == "bf16"
    assert hardware.resolve_precision("fp32", "cuda").value == "fp32"


def test_cpu_flags_name_the_features_of_this_machine():
    flags = hardware.cpu_flags()
    assert isinstance(flags, frozenset)
    assert not any(name.startswith("l1d") or name.startswith("num_") for name in flags)


def test_threads_default_to_the_usable_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(hardware, "usable_cores", lambda: 8)
    assert hardware.resolve_threads(0) == hardware.Choice(8, "usable cores")


def test_explicit_threads_then_omp_num_threads_win(monkeypatch):
    monkeypatch.setattr(hardware, "usable_cores", lambda: 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert hardware.resolve_threads(0).value == 3
    assert hardware.resolve_threads(5).value == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert hardware.resolve_threads(0).value == 8


def test_choice_reads_as_value_and_reason():
    assert str(hardware.Choice("fp32", "cpu: no native bf16")) == "fp32 (cpu: no native bf16)"
