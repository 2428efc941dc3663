"""Model hyperparameters as one dataclass; the four sizes live in conf/model/*.yaml."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

from asr.features import FrontendConfig

PosEnc = Literal["abs", "rel"]  # a Literal: LightningCLI refuses other values while it parses the YAML
POS_ENCODINGS = get_args(PosEnc)
Task = Literal["transcribe", "translate"]
TASKS = get_args(Task)


@dataclass
class ModelConfig:
    vocab_size: int = 0  # V, specials included; set from the tokenizer when the model is built
    d_model: int = 256  # D
    heads: int = 4  # H
    enc_layers: int = 12
    dec_layers: int = 6
    ffn: int = 2048  # the encoder's feed-forward width (and the decoder's, unless dec_ffn is set)
    dec_ffn: int = 0  # the decoder's feed-forward width; 0: ffn (ESPnet's LibriSpeech-100 transformer: 1024 / 2048)
    dropout: float = 0.1
    attn_dropout: float = 0.0
    subsampling: int = 4  # 4, 6 or 8: T' ~ T / subsampling
    subsampling_channels: int = 256  # conv channels; small values make CPU steps several times faster
    conv_module: bool = False  # conformer-style depthwise conv after self-attention in each encoder block
    conv_kernel: int = 15
    # The conformer's two other levers, each measurable alone (Gulati et al. 2020; ESPnet's and WeNet's encoder):
    pos_enc: PosEnc = "abs"  # "abs": sinusoids added to the input; "rel": relative positions inside self-attention
    macaron_ffn: bool = False  # FF/2, self-attention, [conv], FF/2, LayerNorm per block (False: one full FF)
    # Streaming (WeNet's U2): one model decodes both offline and chunk by chunk.
    causal: bool = False  # the conv module's depthwise kernel sees only past frames (needed to stream with it)
    dynamic_chunk: bool = False  # training: each batch's self-attention sees chunks of a random size, half the
    # batches full context (WeNet's add_optional_chunk_mask); the trained model decodes with any chunk size
    max_chunk: int = 25  # the largest random chunk in encoder frames (25 x 40 ms = 1 s at subsampling 4)
    dynamic_left_chunks: bool = False  # training: a random bound on the chunks to the left each batch sees
    ctc_weight: float = 0.3  # loss = w * CTC + (1 - w) * label-smoothed CE
    label_smoothing: float = 0.1
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    # "translate" (speech translation, ESPnet's st1): the decoder writes the supervisions' translation into
    # `target_language` (custom["translated_text"]) while the CTC head keeps the source transcript as its target
    # (multi-task); CTC then never enters the decoder's search (`DecodeOptions.for_model`).
    task: Task = "transcribe"
    target_language: str = ""  # the translation's language code ("en"), as the corpus's translated_text names it

    def __post_init__(self) -> None:
        if self.pos_enc not in POS_ENCODINGS:
            raise ValueError(f"pos_enc must be one of {POS_ENCODINGS}, got {self.pos_enc!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task == "translate" and not self.target_language:
            raise ValueError("task translate needs target_language: the code of the language the decoder writes "
                             "(the key of the supervisions' translated_text, e.g. en)")
        if self.dynamic_chunk and self.conv_module and not self.causal:
            raise ValueError("dynamic_chunk with conv_module needs causal: true (a centred kernel reads the next "
                             "chunk's frames, which a stream does not have yet)")

    @property
    def streams(self) -> bool:
        """Whether the encoder runs chunk by chunk (`Encoder.forward_chunk`): absolute positions, a conv module
        that is causal or absent, and no per-utterance CMN (a stream has not heard the utterance's end)."""
        return self.pos_enc == "abs" and (self.causal or not self.conv_module) and not self.frontend.utterance_cmn

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)  # model files from before a field existed lack its key: the dataclass default fills it
        front = FrontendConfig(**d.pop("frontend", {}))
        return cls(frontend=front, **d)
