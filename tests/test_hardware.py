"""Tests for ppnotes.hardware: units, bidirectional halving, sources present in the bib."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ppnotes import hardware as hw

BIB = Path(__file__).resolve().parents[1] / "book" / "references.bib"


def _bib_keys() -> set[str]:
    return set(re.findall(r"@\w+\{([^,\s]+),", BIB.read_text(encoding="utf-8")))


def _keys(field: str | None) -> list[str]:
    if field is None or field.startswith("assumption"):
        return []
    return [k.strip() for k in field.split(",")]


def test_units():
    assert hw.GB == 10**9
    assert hw.GiB == 2**30
    assert hw.GBIT_PER_S * 8 == 10**9


def test_a100_capacities_are_binary():
    # "40GB" and "80GB" are exactly 40 and 80 GiB as the driver reports them
    assert hw.A100_40GB.memory_bytes == 40 * hw.GiB
    assert hw.A100_80GB.memory_bytes == 80 * hw.GiB
    assert hw.A100_40GB.memory_gb == pytest.approx(42.95, abs=0.01)


def test_h100_h200_capacities():
    assert hw.H100_SXM.memory_gib == pytest.approx(79.65, abs=0.01)
    # "141GB" is about 140 GiB: the label is closer to GiB than to GB
    assert 140 < hw.H200.memory_gib < 141 < hw.H200.memory_gb


def test_dense_bf16_flops():
    assert hw.A100_40GB.bf16_flops == hw.A100_80GB.bf16_flops == 312e12
    assert hw.H100_SXM.bf16_flops == hw.H200.bf16_flops == 989e12


def test_hbm_bandwidth_grows_with_generation():
    order = [hw.A100_40GB, hw.A100_80GB, hw.H100_SXM, hw.H200]
    bws = [g.hbm_bandwidth for g in order]
    assert bws == sorted(bws)
    assert hw.H200.hbm_bandwidth == 4.8e12


def test_achievable_hbm_is_a_measured_share_of_the_peak():
    for gpu in hw.GPUS.values():
        assert 0.8 < gpu.hbm_achievable_fraction < 0.95
        assert gpu.achievable_hbm_bandwidth == pytest.approx(
            gpu.hbm_bandwidth * gpu.hbm_achievable_fraction
        )
    # the measurements, in GB/s: a copy kernel on A100 40GB, a copy test on A800 80GB (same
    # memory as A100 80GB), FlashMLA's decode kernel on H800 SXM5 (H100's memory)
    assert hw.A100_40GB.achievable_hbm_bandwidth == pytest.approx(1310.72e9)
    assert hw.A100_80GB.hbm_achievable_fraction == pytest.approx(1727 / 1935)
    assert hw.H100_SXM.achievable_hbm_bandwidth == pytest.approx(3000e9)
    bws = [g.achievable_hbm_bandwidth for g in hw.GPUS.values()]
    assert bws == sorted(bws)


def test_kernel_launch_cost_is_a_few_microseconds_and_sourced():
    for gpu in hw.GPUS.values():
        assert gpu.kernel_launch_cost == hw.KERNEL_LAUNCH_COST == 3.0e-6
        assert gpu.kernel_launch_source
    bare = hw.GPUSpec("x", 1, 1, 1e12, 1e12, "s")
    assert bare.kernel_launch_cost == 0.0 and bare.achievable_hbm_bandwidth == 1e12
    with pytest.raises(ValueError, match="hbm_achievable_fraction"):
        hw.GPUSpec("x", 1, 1, 1e12, 1e12, "s", hbm_achievable_fraction=0.0)
    with pytest.raises(ValueError, match="kernel_launch_cost"):
        hw.GPUSpec("x", 1, 1, 1e12, 1e12, "s", kernel_launch_cost=-1e-6)


def test_collective_latencies_are_nccls_model():
    for link in hw.LINKS.values():
        assert link.call_latency == hw.NCCL_CALL_LATENCY == 6.6e-6
        assert link.collective_latency_source == "nccl2026tuning"
    assert hw.NVLINK4.step_latency == 0.6e-6
    assert hw.PCIE5_X16.step_latency == 1.0e-6
    assert hw.IB_NDR.step_latency == 2.7e-6
    # 4 NVLink GPUs: 6.6 + 2 x 3 x 0.6 = 10.2 us, NCCL's printed Ring/LL latency
    assert hw.NVLINK4.call_latency + 6 * hw.NVLINK4.step_latency == pytest.approx(10.2e-6)
    with pytest.raises(ValueError, match="step_latency"):
        hw.LinkSpec("x", 1e9, False, None, 0.0, "s", None, "s", step_latency=-1.0)


@pytest.mark.parametrize(
    ("link", "per_direction"),
    [
        (hw.NVLINK3, 300e9),
        (hw.NVLINK4, 450e9),
        (hw.NVLINK5, 900e9),
        (hw.PCIE4_X16, 32e9),
        (hw.PCIE5_X16, 64e9),
        (hw.IB_HDR, 25e9),
        (hw.IB_NDR, 50e9),
    ],
)
def test_peak_is_per_direction(link, per_direction):
    assert link.peak_bandwidth == pytest.approx(per_direction)
    expected_vendor = 2 * per_direction if link.vendor_is_bidirectional else per_direction
    assert link.vendor_bandwidth == pytest.approx(expected_vendor)


def test_nvlink_and_pcie_figures_are_bidirectional_infiniband_is_not():
    for link in (hw.NVLINK3, hw.NVLINK4, hw.NVLINK5, hw.PCIE4_X16, hw.PCIE5_X16):
        assert link.vendor_is_bidirectional
    for link in (hw.IB_HDR, hw.IB_NDR):
        assert not link.vendor_is_bidirectional


@pytest.mark.parametrize("link", list(hw.LINKS.values()), ids=list(hw.LINKS))
def test_measurement_below_peak_and_sourced(link):
    if link.achievable_bandwidth is None:
        assert link.achievable_source is None
        assert link.achievable_method is None
        assert link.bandwidth(achievable=True) == link.peak_bandwidth  # documented fallback
    else:
        assert 0 < link.achievable_bandwidth < link.peak_bandwidth
        assert link.achievable_source
        assert link.achievable_method in hw.ACHIEVABLE_METHODS
        assert link.bandwidth(achievable=True) == link.achievable_bandwidth
    assert link.bandwidth(achievable=False) == link.peak_bandwidth
    assert link.latency > 0


def test_every_source_key_is_in_the_bib():
    keys = _bib_keys()
    cited = []
    for gpu in hw.GPUS.values():
        cited += _keys(gpu.source) + _keys(gpu.hbm_achievable_source)
        cited += _keys(gpu.kernel_launch_source)
    for link in hw.LINKS.values():
        cited += _keys(link.source) + _keys(link.achievable_source) + _keys(link.latency_source)
        cited += _keys(link.collective_latency_source)
    assert cited
    missing = sorted(set(cited) - keys)
    assert not missing, f"bib keys missing from {BIB.name}: {missing}"


def test_presets_are_keyed_by_name():
    for name, gpu in hw.GPUS.items():
        assert hw.get_gpu(name) is gpu
    for name, link in hw.LINKS.items():
        assert hw.get_link(name) is link


def test_bad_names_say_what_is_allowed():
    with pytest.raises(ValueError, match=r"gpu must be one of .*'H200 141GB'.*got 'H300'"):
        hw.get_gpu("H300")
    with pytest.raises(ValueError, match=r"link must be one of .*'NVLink 4'.*got 'nvlink4'"):
        hw.get_link("nvlink4")


def test_measurement_methods_by_hand():
    # InfiniBand figures are NCCL bus bandwidths; NVLink 4 is a copy-engine p2p test; PCIe
    # figures are host-device copies through the slot
    assert hw.IB_HDR.achievable_method == hw.IB_NDR.achievable_method == "nccl-busbw"
    assert hw.NVLINK4.achievable_method == "copy-engine-p2p"
    assert hw.NVLINK3.achievable_method == "nccl-estimate"
    assert {hw.PCIE4_X16.achievable_method, hw.PCIE5_X16.achievable_method} == {"host-device-copy"}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"memory_bytes": -1}, ValueError, "memory_bytes must be an integer >= 1, got -1"),
        ({"memory_bytes": 2.5}, ValueError, "memory_bytes must be an integer"),
        ({"bf16_flops": 0}, ValueError, "bf16_flops must be a finite number > 0, got 0"),
        ({"bf16_flops": float("nan")}, ValueError, "bf16_flops must be a finite number"),
        ({"hbm_bandwidth": float("inf")}, ValueError, "hbm_bandwidth must be a finite number"),
        ({"hbm_bandwidth": "8"}, ValueError, "hbm_bandwidth must be a finite number"),
        ({"name": None}, TypeError, "name must be a string"),
    ],
)
def test_gpu_spec_checks_itself(changes, error, message):
    import dataclasses

    with pytest.raises(error, match=message):
        dataclasses.replace(hw.A100_80GB, **changes)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"vendor_bandwidth": 0}, ValueError, "vendor_bandwidth must be a finite number > 0"),
        ({"achievable_bandwidth": -1.0}, ValueError, "achievable_bandwidth must be a finite"),
        ({"latency": float("nan")}, ValueError, "latency must be a finite number >= 0"),
        ({"vendor_is_bidirectional": 1}, TypeError, "vendor_is_bidirectional must be True or"),
    ],
)
def test_link_spec_checks_itself(changes, error, message):
    import dataclasses

    with pytest.raises(error, match=message):
        dataclasses.replace(hw.NVLINK3, **changes)


def test_link_bandwidth_flag_must_be_a_bool():
    with pytest.raises(TypeError, match="achievable must be True or False"):
        hw.NVLINK3.bandwidth("8")
    assert hw.NVLINK3.bandwidth(False) == hw.NVLINK3.peak_bandwidth
