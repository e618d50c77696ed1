"""GPUs and links used throughout the book, each number with its source.

Units everywhere: bytes, seconds, FLOP/s and bytes/s. Two prefixes are easy to mix up:

* ``GB`` = 10**9 bytes (decimal). Vendors quote **bandwidths** in GB/s and TB/s this way.
* ``GiB`` = 2**30 bytes (binary). HBM capacities are binary underneath: the "A100 40GB"
  reports 40960 MiB = exactly 40 GiB (42.9 GB) to ``nvidia-smi``. We store the capacity the
  driver reports (``memory_bytes``) and keep the marketing label separately.

Links carry two numbers. ``vendor_bandwidth`` is the figure on the data sheet; for NVLink
and PCIe NVIDIA adds both directions ("600 GB/s" on A100 is 300 GB/s each way), so
``vendor_is_bidirectional`` says whether it must be halved. ``peak_bandwidth`` is the result:
bytes/s **per direction per GPU (or per network card)**, which is what one pipeline send
can use. ``achievable_bandwidth`` is a published *measurement* of the same quantity
(nccl-tests, p2pBandwidthLatencyTest, nvbandwidth), or ``None`` where we found none, and
``achievable_method`` says how it was measured. The methods measure different things: an
NCCL all-reduce *bus bandwidth* is what a collective achieves per GPU through NCCL's
kernels (the right figure for tensor- and data-parallel all-reduces, and close to what an
NCCL send achieves over the same link); a *copy-engine peer-to-peer* test
(p2pBandwidthLatencyTest, nvbandwidth) times ``cudaMemcpy`` between two GPUs or between host
and GPU, with no NCCL in the way, and usually reads higher than NCCL on the same link.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._validate import check_bool, check_choice, check_instance, check_int, check_real

GB = 10**9  # bytes, decimal (bandwidths, network and marketing capacities)
GiB = 2**30  # bytes, binary (what HBM capacities really are)
MiB = 2**20  # bytes, the unit nvidia-smi prints
GBIT_PER_S = 10**9 / 8  # bytes/s in one Gb/s (network cards are quoted in bits)


@dataclass(frozen=True)
class GPUSpec:
    """One GPU model.

    Attributes:
        name: display name, also the key in :data:`GPUS`.
        memory_bytes: HBM capacity the driver reports (``nvidia-smi`` total MiB x 2**20),
            in bytes. Slightly more than what a framework can allocate (the CUDA context
            and NCCL buffers take some), see :func:`ppnotes.memory.fits`.
        marketed_memory_gb: the capacity in the product name ("40GB", "141GB").
        bf16_flops: dense (no 2:4 sparsity) BF16 Tensor Core peak, FLOP/s. Data sheets
            for H100/H200 print the sparse figure (1,979 TFLOP/s) with a footnote; the
            dense figure is half of it.
        hbm_bandwidth: peak HBM bandwidth, bytes/s (decimal GB/s on the data sheet).
        source: bib keys (comma separated) for the numbers above.

    Raises ``ValueError`` unless the capacity is an integer >= 1 and the other numbers are
    finite and > 0, ``TypeError`` for a name or source that is not a string.
    """

    name: str
    memory_bytes: int
    marketed_memory_gb: float
    bf16_flops: float
    hbm_bandwidth: float
    source: str

    def __post_init__(self):
        check_instance("name", self.name, str, "string")
        check_instance("source", self.source, str, "string")
        object.__setattr__(self, "memory_bytes", check_int("memory_bytes", self.memory_bytes))
        for field in ("marketed_memory_gb", "bf16_flops", "hbm_bandwidth"):
            check_real(field, getattr(self, field), strict=True)

    @property
    def memory_gib(self) -> float:
        """Capacity in GiB (2**30 bytes)."""
        return self.memory_bytes / GiB

    @property
    def memory_gb(self) -> float:
        """Capacity in GB (10**9 bytes)."""
        return self.memory_bytes / GB


@dataclass(frozen=True)
class LinkSpec:
    """One kind of link between two GPUs (NVLink, PCIe) or two nodes (InfiniBand).

    Attributes:
        name: display name, also the key in :data:`LINKS`.
        vendor_bandwidth: the marketing figure as printed, bytes/s (see
            ``vendor_is_bidirectional``). Per GPU for NVLink (all links of one GPU
            together) and PCIe (one x16 slot); per network card (one port) for InfiniBand.
        vendor_is_bidirectional: ``True`` if the vendor figure adds both directions
            (NVLink, PCIe as NVIDIA quotes it); ``False`` if it is already per direction
            (InfiniBand data rates).
        achievable_bandwidth: a published measurement, bytes/s per direction, or ``None``.
        latency: alpha in T = alpha + n / BW, seconds: the fixed cost of one small
            NCCL send/receive, not the wire latency.
        source: bib key(s) for the vendor figure.
        achievable_source: bib key(s) for the measurement, or ``None``.
        latency_source: bib key(s) for the latency, or a note saying it is an assumption.
        notes: anything a reader needs to use the numbers correctly.
        achievable_method: how ``achievable_bandwidth`` was measured, one of
            :data:`ACHIEVABLE_METHODS` (``None`` when there is no measurement).

    Raises ``ValueError`` unless the bandwidths are finite and > 0 and the latency finite and
    >= 0, ``TypeError`` for a flag that is not ``True``/``False`` or text that is not a string.
    """

    name: str
    vendor_bandwidth: float
    vendor_is_bidirectional: bool
    achievable_bandwidth: float | None
    latency: float
    source: str
    achievable_source: str | None
    latency_source: str
    notes: str = ""
    achievable_method: str | None = None

    def __post_init__(self):
        for field in ("name", "source", "latency_source", "notes"):
            check_instance(field, getattr(self, field), str, "string")
        for field in ("achievable_source", "achievable_method"):
            if getattr(self, field) is not None:
                check_instance(field, getattr(self, field), str, "string or None")
        check_real("vendor_bandwidth", self.vendor_bandwidth, strict=True)
        check_bool("vendor_is_bidirectional", self.vendor_is_bidirectional)
        if self.achievable_bandwidth is not None:
            check_real("achievable_bandwidth", self.achievable_bandwidth, strict=True)
        check_real("latency", self.latency)

    @property
    def peak_bandwidth(self) -> float:
        """Vendor bandwidth per direction, bytes/s (halved if the vendor adds both ways)."""
        return self.vendor_bandwidth / 2 if self.vendor_is_bidirectional else self.vendor_bandwidth

    def bandwidth(self, achievable: bool = True) -> float:
        """Bandwidth per direction used by the models, bytes/s.

        ``achievable=True`` returns the published measurement; where there is none it falls
        back to :attr:`peak_bandwidth`, an optimistic bound (check
        :attr:`achievable_bandwidth` ``is None`` to know). ``achievable=False`` always
        returns the peak.
        """
        if check_bool("achievable", achievable) and self.achievable_bandwidth is not None:
            return self.achievable_bandwidth
        return self.peak_bandwidth


# --- GPUs -------------------------------------------------------------------------------

A100_40GB = GPUSpec(
    name="A100 40GB",
    memory_bytes=40960 * MiB,  # nvidia-smi: 40960 MiB = 40 GiB = 42.9 GB
    marketed_memory_gb=40,
    bf16_flops=312e12,  # dense BF16 Tensor Core; 624 TFLOP/s is the 2:4-sparse figure
    hbm_bandwidth=1555e9,  # SXM4 40GB, HBM2
    source="nvidia2021a100datasheet,modal2025gpumemory",
)

A100_80GB = GPUSpec(
    name="A100 80GB",
    memory_bytes=81920 * MiB,  # nvidia-smi: 81920 MiB = 80 GiB = 85.9 GB
    marketed_memory_gb=80,
    bf16_flops=312e12,
    hbm_bandwidth=2039e9,  # SXM4 80GB, HBM2e
    source="nvidia2021a100datasheet,modal2025gpumemory",
)

H100_SXM = GPUSpec(
    name="H100 SXM 80GB",
    memory_bytes=81559 * MiB,  # nvidia-smi: 81559 MiB = 79.6 GiB = 85.5 GB
    marketed_memory_gb=80,
    bf16_flops=989e12,  # data sheet: 1,979 TFLOP/s "with sparsity"; dense is half
    hbm_bandwidth=3.35e12,
    source="nvidia2022h100datasheet,modal2025gpumemory",
)

H200 = GPUSpec(
    name="H200 141GB",
    memory_bytes=143771 * MiB,  # nvidia-smi: 143771 MiB = 140.4 GiB = 150.8 GB
    marketed_memory_gb=141,
    bf16_flops=989e12,  # same GH100 compute as H100 SXM; only memory changed
    hbm_bandwidth=4.8e12,
    source="nvidia2024h200,cudasamples2024h200smi",
)

GPUS: dict[str, GPUSpec] = {g.name: g for g in (A100_40GB, A100_80GB, H100_SXM, H200)}


def get_gpu(name: str) -> GPUSpec:
    """Return the GPU preset called ``name`` (one of :data:`GPUS`)."""
    return GPUS[check_choice("gpu", name, GPUS)]


# --- Links ------------------------------------------------------------------------------

# How a link's achievable bandwidth was measured (LinkSpec.achievable_method).
ACHIEVABLE_METHODS = {
    "nccl-busbw": "NCCL collective bus bandwidth per GPU or per card (nccl-tests)",
    "nccl-estimate": "an NVIDIA engineer's estimate of effective NCCL bandwidth per link",
    "copy-engine-p2p": "GPU-to-GPU cudaMemcpy, copy engine (p2pBandwidthLatencyTest)",
    "host-device-copy": "host-to-device or device-to-host copy through the slot (nvbandwidth)",
}

# Small-message NCCL time within an NVLink/NVSwitch node is about 3 microseconds
# (nccl-tests on H100 and B200, quoted by NVIDIA engineers). For PCIe and InfiniBand we
# found no clean published send/receive figure, so we assume 10 microseconds. For a full
# GPT-3 activation (48 MiB) latency is under 1% of a hop over InfiniBand or PCIe, but up to
# about 5% over the fastest NVLink (chapter 3 computes it).
_NVLINK_LATENCY = 3e-6
_NVLINK_LATENCY_SOURCE = "nccltests2025latency"
_ASSUMED_LATENCY = 10e-6
_ASSUMED_LATENCY_SOURCE = "assumption (order of magnitude; no clean published figure)"

NVLINK3 = LinkSpec(
    name="NVLink 3",
    vendor_bandwidth=600 * GB,  # A100: 12 links x 25 GB/s x 2 directions
    vendor_is_bidirectional=True,
    achievable_bandwidth=230 * GB,  # NVIDIA: ~20 GB/s effective per link, ~230 GB/s per GPU
    latency=_NVLINK_LATENCY,
    source="nvidia2020a100whitepaper",
    achievable_source="nccltests2023a100nvlink",
    achievable_method="nccl-estimate",
    latency_source=_NVLINK_LATENCY_SOURCE,
    notes="A100 SXM. 600 GB/s adds both directions: 300 GB/s per direction.",
)

NVLINK4 = LinkSpec(
    name="NVLink 4",
    vendor_bandwidth=900 * GB,  # H100/H200: 18 links x 25 GB/s x 2 directions
    vendor_is_bidirectional=True,
    achievable_bandwidth=376 * GB,  # p2pBandwidthLatencyTest, unidirectional, HGX H100
    latency=_NVLINK_LATENCY,
    source="nvidia2022h100whitepaper",
    achievable_source="nccl2024h100p2p",
    achievable_method="copy-engine-p2p",
    latency_source=_NVLINK_LATENCY_SOURCE,
    notes=(
        "H100/H200 SXM. 900 GB/s adds both directions: 450 GB/s per direction; "
        "measured ~376-380 GB/s one way (copy engine)."
    ),
)

NVLINK5 = LinkSpec(
    name="NVLink 5",
    vendor_bandwidth=1800 * GB,  # B200: 18 links x 50 GB/s x 2 directions
    vendor_is_bidirectional=True,
    achievable_bandwidth=None,
    latency=_NVLINK_LATENCY,
    source="nvidia2024blackwell",
    achievable_source=None,
    latency_source=_NVLINK_LATENCY_SOURCE,
    notes="B200. 1.8 TB/s adds both directions: 900 GB/s per direction. No measurement used.",
)

PCIE4_X16 = LinkSpec(
    name="PCIe Gen4 x16",
    vendor_bandwidth=64 * GB,  # NVIDIA's A100 data sheet: "PCIe Gen4: 64 GB/s"
    vendor_is_bidirectional=True,
    achievable_bandwidth=25.13 * GB,  # nvbandwidth host->device on A100-SXM4-40GB
    latency=_ASSUMED_LATENCY,
    source="pcisig2017pcie4,nvidia2021a100datasheet",
    achievable_source="nvbandwidth2025a100h2d",
    achievable_method="host-device-copy",
    latency_source=_ASSUMED_LATENCY_SOURCE,
    notes=(
        "16 GT/s x 16 lanes with 128b/130b coding = 31.5 GB/s per direction; NVIDIA rounds "
        "to 64 GB/s for both directions. Measured ~25 GB/s one way."
    ),
)

PCIE5_X16 = LinkSpec(
    name="PCIe Gen5 x16",
    vendor_bandwidth=128 * GB,  # NVIDIA's H100 data sheet: "PCIe Gen5: 128 GB/s"
    vendor_is_bidirectional=True,
    achievable_bandwidth=52.8 * GB,  # nvbandwidth device->host on H100
    latency=_ASSUMED_LATENCY,
    source="pcisig2019pcie5,nvidia2022h100datasheet",
    achievable_source="nvbandwidth2024h100",
    achievable_method="host-device-copy",
    latency_source=_ASSUMED_LATENCY_SOURCE,
    notes=(
        "32 GT/s x 16 lanes = 63 GB/s per direction raw. Measured 52.8 GB/s device->host; "
        "host->device was lower (35 GB/s) in the same report."
    ),
)

IB_HDR = LinkSpec(
    name="InfiniBand HDR",
    vendor_bandwidth=200 * GBIT_PER_S,  # 200 Gb/s per port, per direction = 25 GB/s
    vendor_is_bidirectional=False,
    achievable_bandwidth=24 * GB,  # NVIDIA: ~24 GB/s NCCL bus bandwidth per HDR NIC
    latency=_ASSUMED_LATENCY,
    source="nvidia2020connectx6",
    achievable_source="nccl2023hdr",
    achievable_method="nccl-busbw",
    latency_source=_ASSUMED_LATENCY_SOURCE,
    notes="Per network card. InfiniBand rates are per direction; DGX A100 has one per GPU.",
)

IB_NDR = LinkSpec(
    name="InfiniBand NDR",
    vendor_bandwidth=400 * GBIT_PER_S,  # 400 Gb/s per port, per direction = 50 GB/s
    vendor_is_bidirectional=False,
    achievable_bandwidth=48 * GB,  # NVIDIA: 46-49 GB/s per NDR NIC in nccl-tests
    latency=_ASSUMED_LATENCY,
    source="nvidia2022connectx7",
    achievable_source="nccltests2024ndr",
    achievable_method="nccl-busbw",
    latency_source=_ASSUMED_LATENCY_SOURCE,
    notes="Per network card. InfiniBand rates are per direction; DGX H100 has one per GPU.",
)

LINKS: dict[str, LinkSpec] = {
    link.name: link for link in (NVLINK3, NVLINK4, NVLINK5, PCIE4_X16, PCIE5_X16, IB_HDR, IB_NDR)
}


def get_link(name: str) -> LinkSpec:
    """Return the link preset called ``name`` (one of :data:`LINKS`)."""
    return LINKS[check_choice("link", name, LINKS)]
