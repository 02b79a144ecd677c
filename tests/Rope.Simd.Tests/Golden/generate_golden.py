#!/usr/bin/python3
"""Writes the golden vector files next to this script, using PyTorch in float64 as an independent oracle.

Two formulations are run exactly as their authors wrote them (rewritten here for float64 and arbitrary
positions):
  * Meta LLaMA: precompute_freqs_cis + apply_rotary_emb (complex multiply)   -> interleaved layout
  * Hugging Face: rotate_half with duplicated cos/sin (GPT-NeoX style)       -> half-split layout

Inputs are float32 values (so C# reads them exactly); outputs are float64. The bfloat16 and float16 cases also
record float32 sources and torch's own rounding of them to the 16-bit type (a check of the conversions), then
rotate the widened 16-bit values in float64. Run with Debian's python3-torch:
    /usr/bin/python3 tests/Rope.Simd.Tests/Golden/generate_golden.py   (apt-get install python3-torch)
"""
import pathlib
import torch

torch.manual_seed(20261126)
OUT = pathlib.Path(__file__).resolve().parent


def precompute_freqs_cis(dim, positions, theta):
    # Meta: freqs = 1 / theta^(arange(0, dim, 2)/dim); freqs_cis = polar(1, outer(t, freqs)).
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: (dim // 2)].double() / dim))
    t = torch.tensor(positions, dtype=torch.float64)
    freqs = torch.outer(t, freqs)
    return torch.polar(torch.ones_like(freqs), freqs)  # complex128 [len(positions), dim/2]


def meta_apply_rotary_emb(x, freqs_cis):
    # x: [tokens, heads, head_dim]; freqs_cis: [tokens, head_dim/2]
    x_ = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))
    freqs_cis = freqs_cis.view(x_.shape[0], 1, x_.shape[-1])
    return torch.view_as_real(x_ * freqs_cis).flatten(2)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def hf_apply_rotary_pos_emb(x, positions, rotary_dim, theta):
    # HF: inv_freq = 1 / base^(arange(0, dim, 2)/dim); emb = cat(freqs, freqs); partial rotary on the leading slice.
    inv_freq = 1.0 / (theta ** (torch.arange(0, rotary_dim, 2, dtype=torch.int64).double() / rotary_dim))
    freqs = torch.outer(torch.tensor(positions, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = emb.cos()[:, None, :]
    sin = emb.sin()[:, None, :]
    x_rot, x_pass = x[..., :rotary_dim], x[..., rotary_dim:]
    x_rot = (x_rot * cos) + (rotate_half(x_rot) * sin)
    return torch.cat((x_rot, x_pass), dim=-1)


def write_case(name, layout, heads, head_dim, rotary_dim, theta, positions, x, y, freqs_cis=None, dtype=None, source=None):
    lines = [f"dtype {dtype}", "source " + " ".join(f"{v:.9g}" for v in source.flatten().tolist())] if dtype else []
    lines += [
        f"layout {layout}",
        f"heads {heads}",
        f"head_dim {head_dim}",
        f"rotary_dim {rotary_dim}",
        f"theta {theta!r}",
        "positions " + " ".join(str(p) for p in positions),
        "input " + " ".join(f"{v:.9g}" for v in x.flatten().tolist()) if dtype is None
        else "input " + " ".join(str(v & 0xFFFF) for v in x.flatten().view(torch.int16).tolist()),
        "output " + " ".join(f"{v:.17g}" for v in y.flatten().tolist()),
    ]
    if freqs_cis is not None:
        table = torch.view_as_real(freqs_cis).flatten()
        lines.append("table " + " ".join(f"{v:.17g}" for v in table.tolist()))
    (OUT / f"{name}.txt").write_text("\n".join(lines) + "\n")


def random_input(tokens, heads, head_dim):
    return (torch.randn(tokens, heads, head_dim, dtype=torch.float32) * 2).double()


def meta_case(name, heads, dim, theta, positions):
    x = random_input(len(positions), heads, dim)
    freqs_cis = precompute_freqs_cis(dim, positions, theta)
    y = meta_apply_rotary_emb(x, freqs_cis)
    write_case(name, "Interleaved", heads, dim, dim, theta, positions, x, y, freqs_cis)


def hf_case(name, heads, head_dim, rotary_dim, theta, positions):
    x = random_input(len(positions), heads, head_dim)
    y = hf_apply_rotary_pos_emb(x, positions, rotary_dim, theta)
    write_case(name, "HalfSplit", heads, head_dim, rotary_dim, theta, positions, x, y)


# The seed's worked example: dim 4, end 3 (theta 10000).
meta_case("meta_dim4_end3", heads=1, dim=4, theta=10000.0, positions=[0, 1, 2])
meta_case("meta_llama2_dim128", heads=3, dim=128, theta=10000.0, positions=[0, 1, 7, 511, 4095, 65535, 1048575])
meta_case("meta_llama3_dim128", heads=2, dim=128, theta=500000.0, positions=[3, 8191, 131071, 1048576])
meta_case("meta_dim6_odd_pairs", heads=2, dim=6, theta=10000.0, positions=[0, 5, 1000])
hf_case("hf_llama_dim128", heads=4, head_dim=128, rotary_dim=128, theta=10000.0, positions=[0, 1, 2, 100, 1048575])
hf_case("hf_neox_partial_25pct", heads=3, head_dim=80, rotary_dim=20, theta=10000.0, positions=[0, 17, 2048, 99999])
hf_case("hf_phi3_dim96", heads=2, head_dim=96, rotary_dim=96, theta=10000.0, positions=[4095, 4096, 131071])
hf_case("hf_dim10_odd_half", heads=2, head_dim=10, rotary_dim=10, theta=1000000.0, positions=[0, 3, 777777])


def packed_case(name, dtype, layout, heads, head_dim, rotary_dim, theta, positions):
    source = torch.randn(len(positions), heads, head_dim, dtype=torch.float32) * 3
    source[0, 0, :4] = torch.tensor([1e-40, -70000.0, 65519.0, 3.0e38])  # subnormal, float16 overflow, bfloat16 near max
    x = source.to(dtype)  # torch's round-to-nearest-even
    widened = x.double()
    if layout == "Interleaved":
        y = meta_apply_rotary_emb(widened, precompute_freqs_cis(rotary_dim, positions, theta))
    else:
        y = hf_apply_rotary_pos_emb(widened, positions, rotary_dim, theta)
    write_case(name, layout, heads, head_dim, rotary_dim, theta, positions, x, y,
               dtype=str(dtype).removeprefix("torch."), source=source)


packed_case("bf16_meta_dim128", torch.bfloat16, "Interleaved", heads=3, head_dim=128, rotary_dim=128, theta=500000.0,
            positions=[0, 1, 4095, 131071])
packed_case("bf16_hf_dim96", torch.bfloat16, "HalfSplit", heads=4, head_dim=96, rotary_dim=96, theta=10000.0,
            positions=[2, 4096, 99999])
packed_case("fp16_meta_dim64", torch.float16, "Interleaved", heads=3, head_dim=64, rotary_dim=64, theta=10000.0,
            positions=[0, 7, 8191])
packed_case("fp16_hf_dim128", torch.float16, "HalfSplit", heads=2, head_dim=128, rotary_dim=128, theta=1000000.0,
            positions=[1, 65535, 1048575])
