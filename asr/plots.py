"""Attention pictures: the decoder's cross-attention over the spectrogram, and the encoder's self-attention.

One figure, read top to bottom:
  1. the log-mel spectrogram (F x T), time in seconds;
  2. cross-attention averaged over every decoder layer and head, on the same time axis: one row per output
     token, so a clean diagonal means the decoder reads the audio left to right, one word at a time;
  3. cross-attention of each decoder layer and head (layers down, heads across);
  4. encoder self-attention of each layer, averaged over heads (queries down, keys across, both in seconds).

The tokens are the model's own transcript, recognised by the transcriber exactly as `asr transcribe` recognises
the file (`Transcriber.attention_maps`: the picture shows the transcript it explains), or a given transcript
(teacher forcing, as the training callback does with the reference). A forced word the tokenizer has no tokens
for becomes <unk>; its row is labelled with the word ("<unk> (weather)"), since the decoder was fed the <unk> id,
not the word. Weights come from the explicit softmax(QK^T / sqrt(d_k)) path (`need_weights=True`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from asr.model.asr_model import ASRModel
from asr.model.clock import FrameClock
from asr.text import normalise_text
from asr.tokenizer import SOS_EOS, UNK, Tokenizer


@dataclass
class AttentionMaps:
    feats: np.ndarray  # (T, F) log-mel, before CMVN
    labels: list[str]  # U + 1 output tokens, <eos> last; "<unk> (word)" for a forced word outside the vocabulary
    cross: list[np.ndarray]  # per decoder layer (H, U + 1, T')
    self_attn: list[np.ndarray]  # per encoder layer (H, T', T')
    clock: FrameClock
    hop_s: float  # seconds per feature frame
    text: str
    # A translation model's source words (word, start s, end s): its CTC head's transcript aligned, drawn over the
    # cross-attention so a row (a word of the translation) shows which spoken word it reads
    source_words: list[tuple[str, float, float]] = field(default_factory=list)


@torch.no_grad()
def attention_maps(net: ASRModel, tokenizer: Tokenizer, wave: np.ndarray | torch.Tensor, tokens: list[int],
                   text: str | None = None) -> AttentionMaps:
    """wave (S,) at the model's rate and the tokens to draw -> the weights. The tokens are a transcript's (what
    `Transcriber.attention_maps` recognised) or a forced `text` encoded (`text` then labels its <unk> rows)."""
    was_training = net.training
    net.eval()
    try:
        device = next(net.parameters()).device
        w = torch.as_tensor(np.asarray(wave, dtype=np.float32), device=device)[None]  # (1, S)
        lens = torch.tensor([w.shape[1]], device=device)
        feats, _ = net.features(w, lens)  # (1, T, F)
        enc, enc_lens, self_attn = net.encode(w, lens, need_weights=True)  # (1, T', D), [(1, H, T', T')]
        ys_in = torch.tensor([[SOS_EOS] + tokens], device=device)  # (1, U + 1)
        _, cross = net.decoder(ys_in, enc, enc_lens, need_weights=True)  # [(1, H, U + 1, T')]
    finally:
        net.train(was_training)
    labels = token_labels(tokenizer, tokens, text) + ["<eos>"]
    return AttentionMaps(
        feats[0].cpu().numpy(), labels, [c[0].float().cpu().numpy() for c in cross],
        [a[0].float().cpu().numpy() for a in self_attn], FrameClock.of(net.cfg), net.cfg.frontend.hop_ms / 1000,
        tokenizer.decode(tokens).strip(),
    )


def token_labels(tokenizer: Tokenizer, tokens: list[int], text: str | None = None) -> list[str]:
    """Row labels: each token's piece, and for an <unk> of a given `text` the word it stands for. The word of
    token j is found by encoding growing prefixes of the text (exact for every tokenizer kind: a prefix's
    tokens are a prefix of the whole text's)."""
    labels = [tokenizer.id_to_piece(t) for t in tokens]
    if text is None or UNK not in tokens:
        return labels
    words = normalise_text(text).split()
    ends = [len(tokenizer.encode(" ".join(words[: i + 1]))) for i in range(len(words))]  # tokens up to word i
    for j, t in enumerate(tokens):
        if t == UNK:
            i = next((i for i, end in enumerate(ends) if j < end), None)
            if i is not None:
                labels[j] = f"<unk> ({words[i]})"
    return labels


def draw(maps: AttentionMaps, title: str = ""):
    """-> a matplotlib Figure (Agg; nothing is shown on screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    L, H = len(maps.cross), maps.cross[0].shape[0] if maps.cross else 0
    E = len(maps.self_attn)
    U = len(maps.labels)
    T = maps.feats.shape[0]
    duration = T * maps.hop_s
    # Encoder frame j spans [centre(j) - frame/2, centre(j) + frame/2): the x extent of every attention image.
    Tp = maps.self_attn[0].shape[-1] if maps.self_attn else (maps.cross[0].shape[-1] if maps.cross else 1)
    x0 = maps.clock.centre(0) - maps.clock.frame_s / 2
    extent_x = (x0, x0 + Tp * maps.clock.frame_s)
    enc_cols = min(E, 6)
    enc_rows = -(-E // enc_cols) if E else 0
    row_h = max(2.2, 0.22 * U)
    heights = [2.0, row_h] + [row_h] * L + [2.6] * enc_rows
    fig = plt.figure(figsize=(max(10, 2.6 * max(H, enc_cols)), sum(heights) + 1.2), constrained_layout=True)
    gs = GridSpec(len(heights), max(H, enc_cols, 1), figure=fig, height_ratios=heights)
    fig.suptitle(title or f"attention for: {maps.text!r}", fontsize=12)

    ax = fig.add_subplot(gs[0, :])
    ax.imshow(maps.feats.T, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, maps.feats.shape[1]))
    ax.set(title="log-mel spectrogram", ylabel="mel bin", xlim=(0, duration))

    if maps.cross:
        avg = np.mean([c.mean(axis=0) for c in maps.cross], axis=0)  # (U + 1, T')
        # Each row scaled to its own maximum: one token's sharp peak would otherwise wash out every other row.
        avg = avg / np.maximum(avg.max(axis=1, keepdims=True), 1e-9)
        ax = fig.add_subplot(gs[1, :])
        _image(ax, avg, extent_x, maps.labels)
        ax.set(title="decoder cross-attention, mean of all layers and heads (each row scaled to its maximum)",
               xlabel="time (s)", xlim=(0, duration))
        if maps.source_words:
            _source_axis(ax, maps.source_words)
        for layer, weights in enumerate(maps.cross):
            for h in range(H):
                ax = fig.add_subplot(gs[2 + layer, h])
                _image(ax, weights[h], extent_x, maps.labels if h == 0 else None)
                ax.set_title(f"cross-attn layer {layer + 1} head {h + 1}", fontsize=9)
                ax.set_xlim(0, duration)
    for layer, weights in enumerate(maps.self_attn):
        r, c = divmod(layer, enc_cols)
        ax = fig.add_subplot(gs[2 + L + r, c])
        ax.imshow(weights.mean(axis=0), origin="upper", aspect="equal", cmap="viridis", interpolation="nearest",
                  extent=(extent_x[0], extent_x[1], extent_x[1], extent_x[0]))
        ax.set_title(f"encoder self-attn layer {layer + 1}", fontsize=9)
        ax.set_xlabel("key time (s)", fontsize=8)
        if c == 0:
            ax.set_ylabel("query time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    return fig


def plt_cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _image(ax, weights: np.ndarray, extent_x: tuple[float, float], labels: list[str] | None) -> None:
    """(U, T') weights as rows of tokens over time."""
    U = weights.shape[0]
    ax.set_facecolor(plt_cmap("viridis")(0.0))  # time outside the encoder frames reads as "no attention"
    ax.imshow(weights, origin="upper", aspect="auto", cmap="viridis", interpolation="nearest",
              extent=(extent_x[0], extent_x[1], U - 0.5, -0.5))
    ax.set_yticks(range(U))
    ax.set_yticklabels(labels if labels is not None else [], fontsize=8)
    ax.tick_params(axis="x", labelsize=7)


def _source_axis(ax, words: list[tuple[str, float, float]]) -> None:
    """The source words (a translation model's spoken words) along the top, their edges as faint lines."""
    for _, start, end in words:
        for x in (start, end):
            ax.axvline(x, color="white", alpha=0.25, linewidth=0.6)
    top = ax.secondary_xaxis("top")
    top.set_xticks([(a + b) / 2 for _, a, b in words])
    top.set_xticklabels([w for w, _, _ in words], rotation=45, ha="left", fontsize=8)
    top.set_xlabel("spoken words (the CTC head's transcript, aligned)", fontsize=8)


def save_png(maps: AttentionMaps, path: str | Path, title: str = "") -> Path:
    """Draw `maps` to a PNG at `path` (folders created)."""
    import matplotlib.pyplot as plt

    fig = draw(maps, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
