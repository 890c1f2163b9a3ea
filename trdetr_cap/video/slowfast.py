"""SlowFast R50 8x8 (Feichtenhofer et al. 2019) as a clip feature extractor: 2 s clip -> 2304 = 2048 slow + 256 fast.

The network follows PySlowFast's ``SLOWFAST_8x8_R50`` (Kinetics-400) so its public checkpoint loads by name:
``SLOWFAST_8x8_R50.pkl`` (Caffe2 blobs, the file HERO's extractor used for the released QVHighlights features;
https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/SLOWFAST_8x8_R50.pkl) or a PySlowFast ``.pyth``
(``{"model_state": state_dict}``). Module names match PySlowFast's (``s1.pathway0_stem.conv``,
``s2.pathway1_res0.branch2.a_bn``, ``s3_fuse.conv_f2s`` ...). The classifier head is not built: the feature is the
global average of the last slow and fast maps, concatenated.

Input per clip (HERO's recipe): 32 frames at 30 fps taken every other frame, short side resized to 224 and centre
cropped, RGB / 255, normalised with mean 0.45 / std 0.225; the slow pathway sees 8 of them
(``floor(linspace(0, 31, 8))``), the fast pathway all 32.
"""

from __future__ import annotations

import codecs
import collections
import pickle
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trdetr_cap.errors import UserError, one_line
from trdetr_cap.video.clip import normalize_frames, resize_center_crop
from trdetr_cap.video.decode import num_clips, probe_video, sample_frame_sets, sample_frames, slowfast_frame_times

ONE_FRAME = 1 / 30  # SlowFast clips: any tail of at least one 30 fps frame makes a clip (ceil(duration / 2))

SLOWFAST_MEAN = (0.45, 0.45, 0.45)
SLOWFAST_STD = (0.225, 0.225, 0.225)
FRAMES_PER_CLIP = 32  # fast pathway input frames
ALPHA = 4  # fast / slow frame-rate ratio
BETA_INV = 8  # slow / fast channel ratio
FUSION_RATIO = 2  # fast->slow lateral conv doubles the fast channels
STAGE_DEPTHS = (3, 4, 6, 3)  # ResNet-50
# temporal kernel of the 1st bottleneck conv per stage (res2..res5), (slow, fast)
TEMPORAL_KERNELS = ((1, 3), (1, 3), (3, 3), (3, 3))


def _bn(channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=1e-5, momentum=0.1)


class Stem(nn.Module):
    """conv [kt, 7, 7] stride [1, 2, 2] -> BN -> ReLU -> max pool [1, 3, 3] stride [1, 2, 2]."""

    def __init__(self, dim_out: int, kt: int):
        super().__init__()
        self.conv = nn.Conv3d(3, dim_out, (kt, 7, 7), stride=(1, 2, 2), padding=(kt // 2, 3, 3), bias=False)
        self.bn = _bn(dim_out)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.bn(self.conv(x))))


class FuseFastToSlow(nn.Module):
    """Lateral connection: fast (B, C, T, H, W) -> conv [7, 1, 1] stride [alpha, 1, 1] -> (B, 2C, T / alpha, H, W),
    concatenated to the slow channels."""

    def __init__(self, fast_dim: int):
        super().__init__()
        self.conv_f2s = nn.Conv3d(fast_dim, fast_dim * FUSION_RATIO, (7, 1, 1), stride=(ALPHA, 1, 1),
                                  padding=(3, 0, 0), bias=False)
        self.bn = _bn(fast_dim * FUSION_RATIO)

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([slow, torch.relu(self.bn(self.conv_f2s(fast)))], dim=1), fast


class Bottleneck(nn.Module):
    """1x1 (temporal kernel kt) -> 3x3 (spatial stride) -> 1x1, each with BN (names a/b/c as PySlowFast)."""

    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, kt: int, stride: int):
        super().__init__()
        self.a = nn.Conv3d(dim_in, dim_inner, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.a_bn = _bn(dim_inner)
        self.b = nn.Conv3d(dim_inner, dim_inner, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.b_bn = _bn(dim_inner)
        self.c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.c_bn = _bn(dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.a_bn(self.a(x)))
        x = torch.relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class ResBlock(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, kt: int, stride: int):
        super().__init__()
        if dim_in != dim_out or stride != 1:  # projection shortcut
            self.branch1 = nn.Conv3d(dim_in, dim_out, 1, stride=(1, stride, stride), bias=False)
            self.branch1_bn = _bn(dim_out)
        self.branch2 = Bottleneck(dim_in, dim_out, dim_inner, kt, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.branch1_bn(self.branch1(x)) if hasattr(self, "branch1") else x
        return torch.relu(shortcut + self.branch2(x))


class Stage(nn.Module):
    """One ResNet stage for both pathways: modules ``pathway{p}_res{i}``."""

    def __init__(self, dims_in: tuple[int, int], dims_out: tuple[int, int], dims_inner: tuple[int, int],
                 kts: tuple[int, int], depth: int, stride: int):
        super().__init__()
        for p in range(2):
            for i in range(depth):
                block = ResBlock(dims_in[p] if i == 0 else dims_out[p], dims_out[p], dims_inner[p], kts[p],
                                 stride if i == 0 else 1)
                self.add_module(f"pathway{p}_res{i}", block)
        self.depth = depth

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i in range(self.depth):
            slow = getattr(self, f"pathway0_res{i}")(slow)
            fast = getattr(self, f"pathway1_res{i}")(fast)
        return slow, fast


class SlowFastR50(nn.Module):
    """SlowFast R50 8x8 backbone. forward(slow (B, 3, 8, H, W), fast (B, 3, 32, H, W)) -> (B, 2304)."""

    def __init__(self):
        super().__init__()
        width = 64
        self.s1 = nn.Module()
        self.s1.pathway0_stem = Stem(width, 1)
        self.s1.pathway1_stem = Stem(width // BETA_INV, 5)
        self.s1_fuse = FuseFastToSlow(width // BETA_INV)
        slow_in, fast_in = width, width // BETA_INV
        for n, (depth, kts) in enumerate(zip(STAGE_DEPTHS, TEMPORAL_KERNELS, strict=True)):
            out, inner = width * 4 * 2 ** n, width * 2 ** n  # 256/64, 512/128, 1024/256, 2048/512
            stage = Stage((slow_in + fast_in * FUSION_RATIO, fast_in), (out, out // BETA_INV),
                          (inner, inner // BETA_INV), kts, depth, stride=1 if n == 0 else 2)
            self.add_module(f"s{n + 2}", stage)
            if n < 3:  # no lateral connection after res5
                self.add_module(f"s{n + 2}_fuse", FuseFastToSlow(out // BETA_INV))
            slow_in, fast_in = out, out // BETA_INV

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        slow, fast = self.s1_fuse(self.s1.pathway0_stem(slow), self.s1.pathway1_stem(fast))
        for n in range(2, 6):
            slow, fast = getattr(self, f"s{n}")(slow, fast)
            if n < 5:
                slow, fast = getattr(self, f"s{n}_fuse")(slow, fast)
        return torch.cat([slow.mean(dim=(2, 3, 4)), fast.mean(dim=(2, 3, 4))], dim=1)


_BN_SUFFIX = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_PARAM_SUFFIX = {"w": "weight", "b": "bias"}


def caffe2_to_pytorch_name(blob: str) -> str | None:
    """A PySlowFast Caffe2 blob name -> this module's parameter name (None for blobs with no parameter here:
    the classifier, optimiser momenta, iteration counters).

    ``t_`` prefixes the fast pathway; ``res{S}_{B}_branch2{a,b,c}`` is block B of stage S; ``*_bn_{s,b,rm,riv}`` are
    BN scale, shift, running mean and running variance; the lateral convs are ``t_pool1_subsample`` (after the stem)
    and ``t_res{S}_{last}_branch2c_bn_subsample`` (after stage S).
    """
    pathway = 1 if blob.startswith("t_") else 0
    name = blob[2:] if pathway else blob
    if pathway and (m := re.fullmatch(r"(?:pool1|res(\d)_\d+_branch2c_bn)_subsample(_bn)?_(\w+)", name)):
        module = f"s{m[1] or 1}_fuse.{'bn' if m[2] else 'conv_f2s'}"
        bn, suffix = m[2], m[3]
    elif m := re.fullmatch(r"(?:res_)?conv1(_bn)?_(\w+)", name):
        module = f"s1.pathway{pathway}_stem.{'bn' if m[1] else 'conv'}"
        bn, suffix = m[1], m[2]
    elif m := re.fullmatch(r"res(\d)_(\d+)_branch(1|2[abc])(_bn)?_(\w+)", name):
        branch = "branch1" if m[3] == "1" else f"branch2.{m[3][1]}"
        module = f"s{m[1]}.pathway{pathway}_res{m[2]}.{branch}{'_bn' if m[4] else ''}"
        bn, suffix = m[4], m[5]
    else:
        return None
    attr = (_BN_SUFFIX if bn else _PARAM_SUFFIX).get(suffix)
    return f"{module}.{attr}" if attr else None


def _numpy_reconstructors() -> dict[tuple[str, str], object]:
    """The globals a pickled numpy array needs, under both numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``)."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles written by Python 3 store bytes
    }
    for pkg in ("numpy.core", "numpy._core"):
        allowed[(f"{pkg}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{pkg}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{pkg}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """Admits only numpy array reconstruction and plain containers: any other global (``os.system``, a class whose
    ``__reduce__`` runs code) is refused before it is called."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="latin1")  # Caffe2 checkpoints were pickled by Python 2
        self.path = path
        self.allowed = _numpy_reconstructors()

    def find_class(self, module: str, name: str):
        obj = self.allowed.get((module, name))
        if obj is None:
            raise UserError(f"{self.path}: refusing to unpickle {module}.{name} (a SlowFast .pkl holds only numpy "
                            "arrays; this file would run code)")
        return obj


def load_caffe2_pickle(path: str | Path) -> dict:
    """A Caffe2-era ``.pkl`` checkpoint ({"blobs": {name: array}}) read without running any code from it."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            data = _ArrayUnpickler(f, path).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
            if isinstance(e, UserError):
                raise
            raise UserError(f"{path}: not a readable Caffe2 checkpoint ({one_line(e)[:200]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a dict of blobs, got {type(data).__name__}")
    return data


def load_slowfast_checkpoint(model: SlowFastR50, path: str | Path) -> None:
    """Load a Caffe2 ``.pkl`` ({"blobs": {name: array}}) or a PySlowFast ``.pyth`` / ``.pt`` ({"model_state": ...}).

    Every backbone parameter and BN statistic must be found with the right shape, else ValueError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SlowFast checkpoint not found: {path}")
    if path.suffix == ".pkl":
        blobs = load_caffe2_pickle(path)
        blobs = blobs.get("blobs", blobs)
        state = {}
        for blob, value in blobs.items():
            name = caffe2_to_pytorch_name(blob)
            if name is not None:
                state[name] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    else:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
            raise UserError(f"{path}: not a loadable PyTorch checkpoint of tensors ({one_line(e)[:200]})") from None
        state = ckpt.get("model_state", ckpt) if isinstance(ckpt, dict) else {}
    own = model.state_dict()
    expected = {k for k in own if not k.endswith("num_batches_tracked")}
    missing = sorted(expected - set(state))
    if missing:
        raise ValueError(f"{path}: not a SlowFast R50 8x8 checkpoint ({len(missing)} parameters missing, "
                         f"e.g. {missing[0]})")
    for key in expected:
        if tuple(state[key].shape) != tuple(own[key].shape):
            raise ValueError(f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(own[key].shape)}")
    model.load_state_dict({k: state[k] for k in expected}, strict=False)


class SlowFastExtractor:
    """Video file -> (L, 2304) SlowFast features, one row per ``clip_len`` s clip."""

    def __init__(self, checkpoint: str | Path, device: str | torch.device = "cpu", batch_size: int = 8,
                 crop_size: int = 224):
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.model = SlowFastR50()
        load_slowfast_checkpoint(self.model, checkpoint)
        self.model.to(self.device).eval()

    @torch.no_grad()
    def encode_clips(self, clips: np.ndarray) -> np.ndarray:
        """(N, 32, S, S, 3) uint8 -> (N, 2304) float32."""
        out = []
        slow_index = torch.linspace(0, clips.shape[1] - 1, clips.shape[1] // ALPHA).long()
        for start in range(0, len(clips), self.batch_size):
            batch = clips[start:start + self.batch_size]
            x = normalize_frames(batch.reshape(-1, *batch.shape[2:]), SLOWFAST_MEAN, SLOWFAST_STD)
            fast = x.view(len(batch), -1, *x.shape[1:]).transpose(1, 2).to(self.device)  # (B, 3, 32, S, S)
            out.append(self.model(fast[:, :, slow_index], fast).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, 2304), np.float32)

    def crop(self, frame: np.ndarray) -> np.ndarray:
        return resize_center_crop(frame, self.crop_size)

    def frame_times(self, duration: float, clip_len: float = 2.0) -> list[float]:
        """Times to sample (rule "before"): 32 per clip, HERO's 30 fps grid."""
        return slowfast_frame_times(num_clips(duration, clip_len, ONE_FRAME), clip_len)

    def pack(self, frames: list[np.ndarray]) -> np.ndarray:
        """Sampled crops -> (L, 32, S, S, 3) uint8, what :meth:`encode_decoded` takes."""
        return np.stack(frames).reshape(-1, FRAMES_PER_CLIP, *frames[0].shape)

    def decode_video(self, path: str | Path, clip_len: float = 2.0) -> np.ndarray:
        """All clips' inputs at once, (L, 32, S, S, 3) uint8 (~360 MB for 150 s at 224 px)."""
        times = self.frame_times(probe_video(path).duration, clip_len)
        return self.pack(sample_frame_sets(path, [times], [self.crop])[0])

    def encode_decoded(self, clips: np.ndarray) -> np.ndarray:
        return self.encode_clips(clips)

    def encode_video(self, path: str | Path, clip_len: float = 2.0) -> np.ndarray:
        """Decode and encode ``batch_size`` clips at a time, so memory stays small whatever the video length."""
        times = self.frame_times(probe_video(path).duration, clip_len)
        per_batch = FRAMES_PER_CLIP * self.batch_size
        frames, features = [], []
        for _, frame in sample_frames(path, times, self.crop, "before"):
            frames.append(frame)
            if len(frames) == per_batch:
                features.append(self.encode_clips(self.pack(frames)))
                frames = []
        if frames:
            features.append(self.encode_clips(self.pack(frames)))
        return np.concatenate(features)
