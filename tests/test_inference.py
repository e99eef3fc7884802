"""KV cache and quantised weight bytes, every number worked by hand from published model shapes."""
import pytest

from archcalc.analysis.inference import kv_cache, max_tokens, quantized_matrix, quantized_model
from archcalc.errors import SpecError

from conftest import run_cli


def test_llama2_7b_half_a_mebibyte_per_token():
    # Llama-2-7B: 32 layers, 32 heads (no GQA), head dim 128, fp16:
    # 32 · 2 · 32 · 128 · 2 = 524,288 bytes = 512 KiB per token; 4,096 tokens = 2 GiB per sequence.
    cache = kv_cache(layers=32, kv_heads=32, head_dim=128, tokens=4096, batch=1, dtype="fp16")
    assert cache.per_token == 524_288
    assert cache.per_sequence == 2_147_483_648
    assert cache.total == 2**31


def test_grouped_query_attention_llama3_8b():
    # Llama-3-8B / Mistral-7B: 32 layers, 32 query heads sharing 8 kv heads, head dim 128, bf16:
    # 32 · 2 · 8 · 128 · 2 = 131,072 bytes (128 KiB) per token; 8,192 tokens × batch 4 = 4 GiB,
    # a quarter of the 16 GiB the same model would need with 32 kv heads.
    cache = kv_cache(layers=32, kv_heads=8, head_dim=128, tokens=8192, batch=4, dtype="bf16", heads=32)
    assert cache.per_token == 131_072
    assert cache.total == 131_072 * 8192 * 4 == 4 * 2**30
    assert cache.mha_total == 16 * 2**30


def test_fp8_cache_halves_it_and_the_longest_context():
    # fp8: 32 · 2 · 8 · 128 · 1 = 65,536 bytes per token; 1 GiB holds 2^30 / 65,536 = 16,384 tokens, batch 2: 8,192
    assert kv_cache(layers=32, kv_heads=8, head_dim=128, tokens=1, dtype="fp8").per_token == 65_536
    assert max_tokens(2**30, layers=32, kv_heads=8, head_dim=128, batch=2, dtype="fp8") == 8_192


@pytest.mark.parametrize("kwargs, words", [
    (dict(tokens=-5), "tokens must be a whole number >= 1"),
    (dict(tokens=0), "tokens must be"),
    (dict(batch=0), "batch must be"),
    (dict(dtype="fp4"), "unknown KV-cache dtype"),
    (dict(heads=12), "do not share 8 key/value heads"),
])
def test_kv_cache_bad_input(kwargs, words):
    args = dict(layers=32, kv_heads=8, head_dim=128, tokens=10) | kwargs
    with pytest.raises(SpecError, match=words):
        kv_cache(**args)


def test_int4_group_128_is_4_125_bits_per_weight():
    # A 4096 × 4096 projection, int4 in groups of 128 with fp16 scales:
    # values 16,777,216 × 4 bits = 8,388,608 bytes; groups 4096 rows × 4096 / 128 = 131,072, × 2 bytes = 262,144;
    # total 8,650,752 bytes = 4.125 bits per weight. With 4-bit zero points: + 131,072 / 2 = 65,536 bytes.
    plain = quantized_matrix(4096, 4096, weights="int4", group_size=128)
    assert (plain.value_bytes, plain.groups, plain.scale_bytes, plain.total) == (8_388_608, 131_072, 262_144,
                                                                                8_650_752)
    assert plain.bits_per_weight == 4.125
    assert quantized_matrix(4096, 4096, group_size=128, zero_points=True).total == 8_716_288


def test_uneven_groups_and_per_channel_scales():
    # 11008 inputs (Llama-2-7B's down projection) in groups of 128: 11008 / 128 = 86 exactly; with groups of
    # 1024: ⌈11008 / 1024⌉ = 11 (the last one 768 long). 4096 rows: 4096 · 11 = 45,056 scales.
    assert quantized_matrix(4096, 11008, group_size=1024).groups == 45_056
    # per-channel int8: 4096 · 4096 bytes + one fp16 scale per row, 4096 · 2 = 8,192
    assert quantized_matrix(4096, 4096, weights="int8", group_size=None).total == 16_777_216 + 8_192
    # a float format keeps no scales: bf16 is 2 bytes a weight
    assert quantized_matrix(10, 10, weights="bf16").total == 200


def test_quantized_model_keeps_the_rest_in_fp16():
    # two 4096×4096 int4 matrices (2 · 8,650,752) + a 32,000 × 4096 embedding left in fp16 (262,144,000)
    total, rows = quantized_model([(4096, 4096), (4096, 4096)], other_params=32_000 * 4096)
    assert total == 2 * 8_650_752 + 262_144_000 and len(rows) == 2


def test_cli_kv_cache():
    done = run_cli("calc", "kv-cache", "--layers", "32", "--kv-heads", "8", "--head-dim", "128",
                   "--tokens", "8192", "--batch", "4", "--kv-dtype", "bf16", "--heads", "32")
    assert done.returncode == 0, done.stderr
    assert "131,072 bytes per token" in done.stdout and "4,294,967,296" in done.stdout
    bad = run_cli("calc", "kv-cache", "--layers", "32", "--kv-heads", "8", "--head-dim", "128", "--tokens", "-1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
