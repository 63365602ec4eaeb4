"""SyncNet: audio and mouth embeddings that are close when they are in sync (the lip-sync scorer).

Chung & Zisserman 2016, "Out of time: automated lip sync in the wild"
(https://www.robots.ox.ac.uk/~vgg/publications/2016/Chung16a/chung16a.pdf). Two networks live here:

- `SyncNetOfficial`: the architecture of the published PyTorch port (joonson/syncnet_python,
  `SyncNetModel.S`, weights `syncnet_v2.model`), with the same parameter names and shapes so that
  file loads strictly. Audio stream `netcnnaud` + `netfcaud`: (B, 1, 13, 20) MFCC windows (13
  cepstra × 20 frames at 100 Hz = 0.2 s = 5 video frames) -> (B, 1024). Lip stream `netcnnlip` +
  `netfclip`: (B, 3, 5, 224, 224) five consecutive 224² face crops, BGR, float 0..255 (the port
  reads frames with cv2 and feeds them unnormalised) -> (B, 1024). The paper's original network
  took 5 stacked grey 111² mouth crops; the Python port that the published weights belong to takes
  colour 224² face crops with a 5-frame temporal convolution, and that is what is built here.
  The port predates BatchNorm's `num_batches_tracked` buffers, so those (and only those) may be
  missing from a state dict; they are unused in eval mode.
- `SelfSyncNet`: a small SyncNet-style model that the pipeline trains on its own accepted clips
  (no download): audio = 20 log-mel rows (80 bands, 100 Hz: 5 video frames), mouth = the 40 lip
  points of the MediaPipe face mesh over the same 5 frames, normalised to the eyes
  (`talkhead.eval.landmarks.normalise`). Embeddings are L2-normalised; it is trained with an
  InfoNCE loss over time shifts (`shift_contrastive_loss`): the in-sync audio window against the
  same clip's audio shifted by ±1..max_shift frames and the other clips' audio at the same time.
  Its scores are reported as `*_selftrained`, never under SyncNet's names.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger(__name__)

# Layer tables of the official streams: ("conv", in, out, kernel, stride, padding) expands to
# conv + batch norm + ReLU (3 modules), ("pool", kernel, stride, padding) to one max pool, so the
# Sequential indices (and the state-dict keys) are those of syncnet_python's SyncNetModel.S.
_AUDIO_LAYERS = [
    ("conv", 1, 64, (3, 3), (1, 1), (1, 1)), ("pool", (1, 1), (1, 1), 0),
    ("conv", 64, 192, (3, 3), (1, 1), (1, 1)), ("pool", (3, 3), (1, 2), 0),
    ("conv", 192, 384, (3, 3), (1, 1), (1, 1)),
    ("conv", 384, 256, (3, 3), (1, 1), (1, 1)),
    ("conv", 256, 256, (3, 3), (1, 1), (1, 1)), ("pool", (3, 3), (2, 2), 0),
    ("conv", 256, 512, (5, 4), (1, 1), (0, 0)),
]
_LIP_LAYERS = [
    ("conv", 3, 96, (5, 7, 7), (1, 2, 2), 0), ("pool", (1, 3, 3), (1, 2, 2), 0),
    ("conv", 96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), ("pool", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)), ("pool", (1, 3, 3), (1, 2, 2), 0),
    ("conv", 256, 512, (1, 6, 6), (1, 1, 1), 0),
]
MFCC_SHAPE = (13, 20)  # cepstra × 100 Hz frames per audio window
LIP_SHAPE = (3, 5, 224, 224)  # BGR × frames × H × W per lip window


def _stream(layers: list[tuple], dims: int) -> nn.Sequential:
    """A conv stream from a layer table; dims 2 (audio) or 3 (lips)."""
    conv, norm, pool = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if dims == 2 else (nn.Conv3d, nn.BatchNorm3d,
                                                                                    nn.MaxPool3d)
    modules: list[nn.Module] = []
    for kind, *args in layers:
        if kind == "conv":
            c_in, c_out, kernel, stride, padding = args
            modules += [conv(c_in, c_out, kernel, stride=stride, padding=padding), norm(c_out), nn.ReLU(inplace=True)]
        else:
            kernel, stride, padding = args
            modules.append(pool(kernel, stride=stride, padding=padding))
    return nn.Sequential(*modules)


def _head(dim: int) -> nn.Sequential:
    """512 -> 512 -> dim projection (fc, batch norm, ReLU, fc)."""
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))


class SyncNetOfficial(nn.Module):
    """The published SyncNet (syncnet_python's SyncNetModel.S): MFCC and lip streams, 1024-d embeddings."""

    def __init__(self, dim: int = 1024) -> None:
        super().__init__()
        self.netcnnaud = _stream(_AUDIO_LAYERS, 2)
        self.netfcaud = _head(dim)
        self.netfclip = _head(dim)
        self.netcnnlip = _stream(_LIP_LAYERS, 3)

    def forward_aud(self, mfcc: torch.Tensor) -> torch.Tensor:
        """(B, 1, 13, 20) MFCC windows -> (B, dim)."""
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))  # (B, 512, 1, 1) -> (B, dim)

    def forward_lip(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, 5, 224, 224) BGR 0..255 face windows -> (B, dim)."""
        return self.netfclip(self.netcnnlip(frames).flatten(1))  # (B, 512, 1, 1, 1) -> (B, dim)


def load_syncnet(path: str | Path, device: str = "cpu") -> SyncNetOfficial:
    """The official SyncNet from a state-dict file (syncnet_v2.model), loaded strictly, in eval mode."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"SyncNet weights not found: {path} (syncnet_v2.model from syncnet_python)")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors have many types; name the file either way
        raise ValueError(f"{path}: not a state dict torch.load(weights_only=True) can read: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    model = SyncNetOfficial()
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in expected)
    wrong = sorted(f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
                   if k in state and state[k].shape != v.shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{path} is not a SyncNet (syncnet_python SyncNetModel.S) state dict: "
                         f"missing keys {missing}, unexpected keys {unexpected}, wrong shapes {wrong}")
    for key in expected:  # batch counters the old port never saved: keep ours
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = expected[key]
    model.load_state_dict(state, strict=True)
    log.info("official SyncNet weights %s", path)
    return model.eval().to(device)


@dataclass(frozen=True)
class SelfSyncConfig:
    """Sizes of the self-trained scorer (saved in config.json)."""

    n_mels: int = 80
    mel_rows: int = 20  # 100 Hz rows per window = 5 video frames
    n_points: int = 40  # lip points of the face mesh (talkhead.eval.landmarks.MOUTH)
    frames: int = 5  # video frames per window
    hidden: int = 128
    dim: int = 64


class SelfSyncNet(nn.Module):
    """A small audio–mouth SyncNet-style model trained on the pipeline's own clips."""

    def __init__(self, cfg: SelfSyncConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels))
        self.register_buffer("mouth_mean", torch.zeros(cfg.n_points, 2))
        self.register_buffer("mouth_std", torch.ones(()))
        self.audio = nn.Sequential(
            nn.Conv1d(cfg.n_mels, cfg.hidden, 3, padding=1), nn.ReLU(),
            nn.Conv1d(cfg.hidden, cfg.hidden, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(cfg.hidden * ((cfg.mel_rows + 1) // 2), cfg.dim))
        self.mouth = nn.Sequential(
            nn.Flatten(), nn.Linear(cfg.frames * cfg.n_points * 2, cfg.hidden), nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.dim))

    def forward_aud(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 20, 80) log-mel windows -> (B, dim) unit vectors."""
        x = ((mel - self.mel_mean) / self.mel_std).transpose(1, 2)  # (B, 80, 20)
        return F.normalize(self.audio(x), dim=-1)

    def forward_lip(self, mouth: torch.Tensor) -> torch.Tensor:
        """(B, 5, 40, 2) eye-normalised lip points -> (B, dim) unit vectors."""
        return F.normalize(self.mouth((mouth - self.mouth_mean) / self.mouth_std), dim=-1)

    def config_dict(self) -> dict:
        """What config.json stores."""
        return asdict(self.cfg)


def shift_contrastive_loss(video: torch.Tensor, audio: torch.Tensor, max_shift: int,
                           temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE: each video window (B, P, D) against audio (B, P + 2·max_shift, D) at shifts −S..S and other clips.

    video[b, p] is in sync with audio[b, p + max_shift]; the negatives are audio[b, p + max_shift + s]
    for s ≠ 0 and audio[b', p + max_shift] for b' ≠ b. Logits are −||v − a||² / temperature.
    """
    b, p, _ = video.shape
    s = max_shift
    idx = torch.arange(p)[:, None] + torch.arange(2 * s + 1)[None, :]  # (P, 2S+1)
    shifted = audio[:, idx]  # (B, P, 2S+1, D)
    shift_logits = -((video[:, :, None] - shifted) ** 2).sum(-1)  # (B, P, 2S+1)
    same_time = audio[:, s:s + p].transpose(0, 1)  # (P, B, D)
    cross = -torch.cdist(video.transpose(0, 1), same_time) ** 2  # (P, B, B): video b vs audio b'
    cross = cross.transpose(0, 1)  # (B, P, B)
    mask = torch.eye(b, dtype=torch.bool)[:, None, :].expand(b, p, b)
    cross = cross.masked_fill(mask, float("-inf"))  # the in-sync pair is already in shift_logits
    logits = torch.cat([shift_logits, cross], dim=-1) / temperature  # (B, P, 2S+1+B)
    target = torch.full((b * p,), s, dtype=torch.long)
    return F.cross_entropy(logits.reshape(b * p, -1), target)
