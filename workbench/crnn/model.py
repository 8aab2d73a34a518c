"""The CRNN of Shi, Bai and Yao (2015), Table 1: conv stack -> map-to-sequence -> 2 BiLSTM -> linear.

One readable model file; the configuration is a small dataclass you can print. Input: (N, 1, 32, W)
grayscale in [0, 1] (ink dark). Output: log-probabilities (T, N, C) with T = W / 4 - 1 and C =
len(charset) + 1 (class 0 is the CTC blank).

The defaults are the paper's design. A few fields exist only for the ablations of
``workbench.crnn.ablations`` (the recurrent cell, pooling, map-to-sequence); at their defaults the
modules and the state-dict layout are those of every shipped checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from workbench.crnn._charset import CHARSET


@dataclass(frozen=True)
class CRNNConfig:
    """Channels of the seven conv layers, the LSTM width, and the alphabet."""

    channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512, 512)
    hidden: int = 256
    batch_norm: tuple[int, ...] = (4, 5)  # 0-based conv layers followed by BN (the paper: conv 5 and 6)
    height: int = 32
    charset: str = CHARSET
    # "torch": PyTorch's default initialization of the LSTM and linear layers; "xavier": Xavier-uniform
    # linear embeddings and forget-gate bias 1 (Jozefowicz et al. 2015), which in our one-batch trials
    # shortened the CTC plateau of small models severalfold.
    rnn_init: str = "torch"
    # Ablation options (defaults: the paper). rnn: "lstm" or "rnn" (a plain tanh RNN); rnn_layers stacked
    # recurrent layers, each followed by its linear embedding; pooling: "paper" (height-only "1x2" windows
    # after conv 4 and 6, as in Table 1) or "square" (2x2 everywhere: a horizontal stride of 16, not 4);
    # map_to_sequence: "squeeze" (the last 2x2 conv reduces the height to 1 and each column is a frame) or
    # "project" (the last conv is 1x2, the two remaining rows are flattened and linearly projected).
    rnn: str = "lstm"
    bidirectional: bool = True
    rnn_layers: int = 2
    pooling: str = "paper"
    map_to_sequence: str = "squeeze"

    @property
    def num_classes(self) -> int:
        return len(self.charset) + 1

    @property
    def stride(self) -> int:
        """Input columns per output frame (the product of the horizontal pooling strides)."""
        return 4 if self.pooling == "paper" else 16

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["batch_norm"] = list(self.batch_norm)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CRNNConfig":
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        d["batch_norm"] = tuple(d.get("batch_norm", (4, 5)))
        d.pop("lstm_layers", None)
        return cls(**d)


#: ``paper``: Table 1 as published (about 8.3 M parameters, BN after conv 5 and 6); ``small``: the same
#: topology with narrower layers and BN after every conv layer, which shortened CTC's initial all-blank
#: plateau in our CPU trials (an overfit test on one batch: loss 2.7 vs 3.4 after 200 steps);
#: ``tiny``: for tests and the quick profile of ``workbench.crnn.train``.
CONFIGS = {
    "paper": CRNNConfig(),
    "small": CRNNConfig(channels=(32, 64, 128, 128, 192, 192, 192), hidden=128, batch_norm=(0, 1, 2, 3, 4, 5)),
    "tiny": CRNNConfig(channels=(8, 16, 32, 32, 48, 48, 48), hidden=48, batch_norm=(0, 1, 2, 3, 4, 5), rnn_init="xavier"),
}


def get_config(name_or_config) -> CRNNConfig:
    """A ``CRNNConfig`` from its name in ``CONFIGS`` (or passed through)."""
    if isinstance(name_or_config, CRNNConfig):
        return name_or_config
    if name_or_config not in CONFIGS:
        raise ValueError(f"config: expected one of {sorted(CONFIGS)} or a CRNNConfig, got {name_or_config!r}")
    return CONFIGS[name_or_config]


def output_length(width, config=None):
    """Frames T the network emits for an input of ``width`` columns: two 2x2 poolings (÷4), then the
    final 2x2 convolution without padding removes one more column: T = W // 4 - 1. With ``config``'s
    square pooling (an ablation) the stride is 16: T = W // 16 - 1."""
    stride = 4 if config is None else get_config(config).stride
    return width // stride - 1


class BidirectionalLSTM(nn.Module):
    """One BiLSTM layer followed by a linear embedding of the concatenated directions (as in the paper's code).

    ``cell="rnn"`` or ``bidirectional=False`` give the ablations' plain RNN and one-directional LSTM; the
    attribute names (``rnn``, ``embedding``) and so the state-dict keys stay the same.
    """

    def __init__(self, n_in: int, hidden: int, n_out: int, cell: str = "lstm", bidirectional: bool = True):
        super().__init__()
        if cell not in ("lstm", "rnn"):
            raise ValueError(f"config.rnn: expected 'lstm' or 'rnn', got {cell!r}")
        rnn_cls = nn.LSTM if cell == "lstm" else nn.RNN
        self.rnn = rnn_cls(n_in, hidden, bidirectional=bidirectional)
        self.embedding = nn.Linear((2 if bidirectional else 1) * hidden, n_out)

    def forward(self, x):  # x: (T, N, n_in)
        out, _ = self.rnn(x)
        return self.embedding(out)


class CRNN(nn.Module):
    """Convolutional recurrent network for text lines (Table 1 of arXiv:1507.05717).

    Conv layers (3x3, padding 1, ReLU) with 2x2 max pooling after layers 1 and 2, height-only (2x1)
    pooling after layers 4 and 6, batch norm after layers 5 and 6, and a final 2x2 conv without padding
    that takes the height from 2 to 1. Each column of the last feature map is one frame of the sequence.
    """

    def __init__(self, config="small"):
        super().__init__()
        self.config = cfg = get_config(config)
        if cfg.height != 32:
            raise ValueError(f"config.height: the Table 1 stack reduces exactly 32 rows to 1, got {cfg.height}")
        if cfg.rnn_init not in ("torch", "xavier"):
            raise ValueError(f"config.rnn_init: expected 'torch' or 'xavier', got {cfg.rnn_init!r}")
        if len(cfg.channels) != 7:
            raise ValueError(f"config.channels: expected 7 conv widths, got {len(cfg.channels)}")
        if cfg.pooling not in ("paper", "square"):
            raise ValueError(f"config.pooling: expected 'paper' or 'square', got {cfg.pooling!r}")
        if cfg.map_to_sequence not in ("squeeze", "project"):
            raise ValueError(f"config.map_to_sequence: expected 'squeeze' or 'project', got {cfg.map_to_sequence!r}")
        if not isinstance(cfg.rnn_layers, int) or cfg.rnn_layers < 1:
            raise ValueError(f"config.rnn_layers: expected a positive int, got {cfg.rnn_layers!r}")
        c = (1,) + tuple(cfg.channels)
        layers: list[nn.Module] = []

        def conv(i, kernel=3, padding=1):
            bn = i in cfg.batch_norm
            layers.append(nn.Conv2d(c[i], c[i + 1], kernel, 1, padding, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(c[i + 1]))
            layers.append(nn.ReLU(inplace=True))

        conv(0); layers.append(nn.MaxPool2d(2, 2))          # 32 x W   -> 16 x W/2
        conv(1); layers.append(nn.MaxPool2d(2, 2))          # 16 x W/2 -> 8 x W/4
        tall = (2, 1) if cfg.pooling == "paper" else (2, 2)  # the paper's "1x2" windows: 2 rows, 1 column
        conv(2); conv(3); layers.append(nn.MaxPool2d(tall, tall))  # -> 4 x W/4
        conv(4); conv(5); layers.append(nn.MaxPool2d(tall, tall))  # -> 2 x W/4
        if cfg.map_to_sequence == "squeeze":
            conv(6, kernel=2, padding=0)                    # -> 1 x (W/4 - 1)
        else:
            conv(6, kernel=(1, 2), padding=0)               # -> 2 x (W/4 - 1), flattened below
            self.project = nn.Linear(2 * c[-1], c[-1])
        self.cnn = nn.Sequential(*layers)
        n_rnn = cfg.rnn_layers
        self.rnn = nn.Sequential(*[
            BidirectionalLSTM(c[-1] if k == 0 else cfg.hidden, cfg.hidden,
                              cfg.num_classes if k == n_rnn - 1 else cfg.hidden, cfg.rnn, cfg.bidirectional)
            for k in range(n_rnn)
        ])
        for m in self.cnn.modules():
            if isinstance(m, nn.Conv2d):
                # He initialization keeps the signal's scale through the ReLU stack; torch's default
                # (uniform, a=sqrt(5)) shrinks it layer by layer and lengthens CTC's all-blank plateau.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if cfg.rnn_init == "xavier":
            for block in self.rnn:
                nn.init.xavier_uniform_(block.embedding.weight)
                nn.init.zeros_(block.embedding.bias)
                for name, p in block.rnn.named_parameters():
                    if name.startswith("bias"):
                        nn.init.zeros_(p)
                        if name.startswith("bias_ih") and cfg.rnn == "lstm":
                            # gate order in torch's LSTM: input, forget, cell, output
                            p.data[cfg.hidden : 2 * cfg.hidden] = 1.0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (N, 1, 32, W) in [0, 1] -> log-probabilities (T, N, C)."""
        if images.dim() != 4 or images.shape[1] != 1 or images.shape[2] != 32:
            raise ValueError(f"images: expected shape (N, 1, 32, W), got {tuple(images.shape)}")
        min_width = 2 * self.config.stride
        if images.shape[3] < min_width:
            raise ValueError(f"images: width must be at least {min_width} columns for one frame, got {images.shape[3]}")
        # Centre the input (ink dark -> negative) so the first conv sees zero-mean data.
        features = self.cnn((images - 0.5) / 0.5)
        if self.config.map_to_sequence == "squeeze":
            seq = features.squeeze(2).permute(2, 0, 1)  # map-to-sequence: (N, C, 1, T) -> (T, N, C)
        else:
            n, ch, h, t = features.shape  # (N, C, 2, T) -> (T, N, C*2) -> learned projection to C
            seq = self.project(features.permute(3, 0, 1, 2).reshape(t, n, ch * h))
        return self.rnn(seq).log_softmax(-1)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameters per top-level block and in total."""
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in model.named_children()}
    counts["total"] = sum(counts.values())
    return counts


def receptive_field(model: CRNN, axis: int = 1) -> dict[str, float]:
    """Receptive field of one output frame of the conv stack along ``axis`` (0 = height, 1 = width).

    Walks the layers with the usual recurrence: each layer of kernel k, stride s and padding p grows the
    field by (k - 1)·jump, shifts its first centre by ((k - 1)/2 - p)·jump and multiplies the jump
    (the distance in input pixels between neighbouring outputs) by s. Frame t is centred at
    ``first_center + t * jump`` and sees ``size`` input columns (before the BiLSTM, which then mixes
    all frames).
    """
    if axis not in (0, 1):
        raise ValueError(f"axis: expected 0 (height) or 1 (width), got {axis!r}")
    size, jump, start = 1.0, 1.0, 0.0
    for m in model.cnn:
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k, s, p = (_pair(v)[axis] for v in (m.kernel_size, m.stride, m.padding))
            size += (k - 1) * jump
            start += ((k - 1) / 2 - p) * jump
            jump *= s
    return {"size": size, "jump": jump, "first_center": start}


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)
