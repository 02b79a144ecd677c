#!/usr/bin/python3
"""Writes scaling.json next to this script: inverse frequencies and attention factors of every RoPE scaling kind,
computed in float64 with torch by following the published code (Hugging Face modeling_rope_utils, Meta's Llama 3.1
apply_scaling, vLLM's fixed NTK, Gemma 4's proportional RoPE), written independently of the C# library.
Run with Debian's python3-torch:  /usr/bin/python3 tests/Rope.Simd.Tests/Golden/generate_scaling.py
"""
import json
import math
import pathlib
import torch

OUT = pathlib.Path(__file__).resolve().parent / "scaling.json"


def default(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).double() / dim))


def linear(base, dim, factor):
    return default(base, dim) / factor, 1.0


def fixed_ntk(base, dim, factor):
    return default(base * factor, dim) / factor ** (2 / dim), 1.0


def dynamic_ntk(base, dim, factor, max_position_embeddings, seq_len):
    seq_len = max(seq_len, max_position_embeddings)
    base = base * ((factor * seq_len / max_position_embeddings) - (factor - 1)) ** (dim / (dim - 2))
    return default(base, dim), 1.0


def yarn(base, dim, factor, original_max_position_embeddings, beta_fast=32, beta_slow=1, truncate=True,
         attention_factor=None, mscale=None, mscale_all_dim=None):
    def get_mscale(scale, m=1):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
        else:
            attention_factor = get_mscale(factor)

    def correction_dim(rotations):
        return (dim * math.log(original_max_position_embeddings / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low), 0, 1)
    extrapolation_factor = 1 - ramp
    pos_freqs = base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    extrapolation = 1.0 / pos_freqs
    interpolation = 1.0 / (factor * pos_freqs)
    inv = interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor
    return inv, attention_factor


def llama3(base, dim, factor, original_max_position_embeddings, low_freq_factor=1, high_freq_factor=4):
    inv = default(base, dim)
    low_wavelen = original_max_position_embeddings / low_freq_factor
    high_wavelen = original_max_position_embeddings / high_freq_factor
    out = []
    for w in inv.tolist():
        wavelen = 2 * math.pi / w
        if wavelen < high_wavelen:
            out.append(w)
        elif wavelen > low_wavelen:
            out.append(w / factor)
        else:
            smooth = (original_max_position_embeddings / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append((1 - smooth) * w / factor + smooth * w)
    return torch.tensor(out, dtype=torch.float64), 1.0


def longrope(base, dim, short_factor, long_factor, original_max_position_embeddings, max_position_embeddings, seq_len,
             attention_factor=None):
    factor = max_position_embeddings / original_max_position_embeddings
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(original_max_position_embeddings))
    ext = torch.tensor(long_factor if seq_len > original_max_position_embeddings else short_factor, dtype=torch.float64)
    inv = 1.0 / (ext * base ** (torch.arange(0, dim, 2, dtype=torch.int64).double() / dim))
    return inv, attention_factor


def proportional(base, head_dim, partial_rotary_factor, factor):
    rotating = int(partial_rotary_factor * head_dim / 2)
    inv = default(base, head_dim)
    inv[rotating:] = 0
    return inv / factor, 1.0


cases = []


def case(name, kind, params, result):
    inv, attention = result
    cases.append({"name": name, "kind": kind, "parameters": params,
                  "inverse_frequencies": [float(v) for v in inv.tolist()], "attention_factor": float(attention)})


torch.manual_seed(4)
phi_short = [round(1.0 + 0.05 * i + 0.01 * float(torch.rand(1)), 6) for i in range(48)]
phi_long = [round(1.0 + 1.2 * i + 0.1 * float(torch.rand(1)), 6) for i in range(48)]

case("linear_factor4", "linear", {"rotary_dim": 128, "base": 10000.0, "factor": 4.0}, linear(10000.0, 128, 4.0))
case("fixed_ntk_factor8", "fixed_ntk", {"rotary_dim": 128, "base": 10000.0, "factor": 8.0}, fixed_ntk(10000.0, 128, 8.0))
case("dynamic_ntk_short", "dynamic_ntk", {"rotary_dim": 128, "base": 10000.0, "factor": 2.0, "max_position_embeddings": 4096, "sequence_length": 100},
     dynamic_ntk(10000.0, 128, 2.0, 4096, 100))
case("dynamic_ntk_grown", "dynamic_ntk", {"rotary_dim": 128, "base": 10000.0, "factor": 2.0, "max_position_embeddings": 4096, "sequence_length": 10000},
     dynamic_ntk(10000.0, 128, 2.0, 4096, 10000))
case("yarn_qwen25", "yarn", {"rotary_dim": 128, "base": 1000000.0, "factor": 4.0, "original_max_position_embeddings": 32768},
     yarn(1000000.0, 128, 4.0, 32768))
case("yarn_deepseek_v2", "yarn", {"rotary_dim": 64, "base": 10000.0, "factor": 40.0, "original_max_position_embeddings": 4096,
                                  "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 0.707, "mscale_all_dim": 0.707},
     yarn(10000.0, 64, 40.0, 4096, 32, 1, True, None, 0.707, 0.707))
case("yarn_attention_factor_no_truncate", "yarn", {"rotary_dim": 64, "base": 150000.0, "factor": 32.0, "original_max_position_embeddings": 4096,
                                                   "truncate": False, "attention_factor": 1.2},
     yarn(150000.0, 64, 32.0, 4096, 32, 1, False, 1.2))
case("llama31", "llama3", {"rotary_dim": 128, "base": 500000.0, "factor": 8.0, "original_max_position_embeddings": 8192,
                           "low_freq_factor": 1.0, "high_freq_factor": 4.0}, llama3(500000.0, 128, 8.0, 8192, 1, 4))
case("llama32", "llama3", {"rotary_dim": 64, "base": 500000.0, "factor": 32.0, "original_max_position_embeddings": 8192,
                           "low_freq_factor": 1.0, "high_freq_factor": 4.0}, llama3(500000.0, 64, 32.0, 8192, 1, 4))
for name, seq in (("longrope_short", 4096), ("longrope_long", 4097)):
    case(name, "longrope", {"rotary_dim": 96, "base": 10000.0, "short_factor": phi_short, "long_factor": phi_long,
                            "original_max_position_embeddings": 4096, "max_position_embeddings": 131072, "sequence_length": seq},
         longrope(10000.0, 96, phi_short, phi_long, 4096, 131072, seq))
case("proportional_gemma4", "proportional", {"head_dim": 256, "base": 1000000.0, "partial_rotary_factor": 0.25, "factor": 8.0},
     proportional(1000000.0, 256, 0.25, 8.0))

OUT.write_text(json.dumps({"deepseek_v2_softmax_scale": (0.1 * 0.707 * math.log(40) + 1) ** 2,
                           "deepseek_v3_softmax_scale": (0.1 * 1.0 * math.log(40) + 1) ** 2,
                           "cases": cases}, indent=1) + "\n")
