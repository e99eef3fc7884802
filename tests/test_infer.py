"""archcalc infer: KV cache, weights, prefill and decode of a decoder spec, every figure worked by hand
from the layers' published shapes, and the FLOP rules checked against FlopCounterMode on real torch
(a whole prefill, and a real decode loop with a KV cache)."""
import pytest

from archcalc.analysis.inference import infer
from archcalc.errors import SpecError

from conftest import run_cli

try:
    import torch
except ImportError:
    torch = None

# A Llama-style decoder, small: RMSNorm before each half, grouped-query attention (4 query heads sharing
# 2 key/value heads of 16, no biases), a SwiGLU MLP of 172; no positions (rotary left out).
LLAMA_TOY = {"name": "llama_toy", "input": {"shape": [2048], "dtype": "int64"},
             "blocks": {"decoder": {"layers": [
                 {"rmsnorm": {"name": "input_norm"}},
                 {"attention": {"name": "attn", "heads": 4, "kv_heads": 2, "causal": True, "bias": False}},
                 {"add": {"name": "residual_1", "from": ["attn", "input"]}},
                 {"rmsnorm": {"name": "post_norm"}},
                 {"dense": {"name": "gate", "units": 172, "bias": False}},
                 {"silu": {"name": "act"}},
                 {"dense": {"name": "up", "from": "post_norm", "units": 172, "bias": False}},
                 {"multiply": {"name": "gated", "from": ["act", "up"]}},
                 {"dense": {"name": "down", "units": 64, "bias": False}},
                 {"add": {"name": "residual_2", "from": ["down", "residual_1"]}}]}},
             "layers": [{"embedding": {"name": "embed", "vocabulary": 1000, "dimension": 64}},
                        {"decoder": {"name": "layers", "repeat": 2}},
                        {"rmsnorm": {"name": "norm"}},
                        {"dense": {"name": "lm_head", "units": 1000, "bias": False}}]}


def test_gpt2_kv_cache_and_weights_by_hand():
    r = infer("gpt2", prompt=16, generate=16, batch=2)        # bf16 activations, weights and cache
    # 12 layers × 2 (k, v) × 12 heads × 64 × 2 bytes = 36,864 bytes per token; 32 tokens × 2 sequences
    assert (r.cache_layers, r.kv_per_token) == (12, 36_864)
    assert r.kv_per_sequence == 36_864 * 32 == 1_179_648 and r.kv_bytes == 2_359_296
    assert r.weight_bytes == 124_439_808 * 2            # GPT-2's parameters (the tied head once), 0 buffers


def test_gpt2_int4_weights_by_hand():
    # Quantised: per block in_proj 2304×768, out_proj 768×768, c_fc 3072×768, c_proj 768×3072 =
    # 1,769,472 + 589,824 + 2,359,296 + 2,359,296 = 7,077,888 weights, × 12 = 84,934,656 at 4 bits =
    # 42,467,328 bytes. Groups of 128 along the input: 2304·6 + 768·6 + 3072·6 + 768·24 = 55,296 per block,
    # × 12 = 663,552 fp16 scales = 1,327,104 bytes. The tied lm_head is wte's weight: left in bf16 with
    # the embeddings, norms and biases, 124,439,808 − 84,934,656 = 39,505,152 × 2 = 79,010,304.
    r = infer("gpt2", prompt=16, weights="int4", group_size=128)
    assert r.quantized_params == 84_934_656
    assert r.weight_bytes == 42_467_328 + 1_327_104 + 79_010_304 == 122_804_736


def test_gpt2_decode_flops_by_hand():
    """The decode rule: every layer at one token, attention's products and softmax over the context C.
    Per block: ln_1 and ln_2 (5 + 2)·768 = 5,376 each; attention 2·(768·2304 + 768·768) = 4,718,592 for
    the projections of one token + 3,072 bias adds + 768 scaling + 2·2·12·C·64 = 3,072·C (q·kᵀ, weights·v)
    + 3·12·C softmax = 4,722,432 + 3,108·C; two adds of 768; c_fc 4,718,592 + 3,072 bias; gelu 3,072;
    c_proj 4,718,592 + 768; dropouts 0. Block: 14,178,816 + 3,108·C; 12 blocks: 170,145,792 + 37,296·C;
    then wpe 768, ln_f 5,376, lm_head 2·768·50,257 = 77,194,752: 247,346,688 + 37,296·C per sequence.
    FlopCounterMode's (matrix products only): 12·(3·4,718,592 + 3,072·C) + 77,194,752 = 247,064,064 + 36,864·C."""
    r = infer("gpt2", prompt=16, generate=16, batch=2)
    per_sequence = lambda c: 247_346_688 + 37_296 * c          # noqa: E731
    torch_rule = lambda c: 247_064_064 + 36_864 * c            # noqa: E731
    assert r.decode_flops_first == 2 * per_sequence(17) and r.decode_flops_last == 2 * per_sequence(32)
    assert r.decode_flops_slope == 2 * 37_296
    assert r.decode_flops_total == 2 * sum(per_sequence(c) for c in range(17, 33))
    assert (r.decode_torch_flops_first, r.decode_torch_flops_last) == (2 * torch_rule(17), 2 * torch_rule(32))
    assert r.decode_torch_flops_total == 2 * sum(torch_rule(c) for c in range(17, 33))
    # a step reads every weight and the whole cache at its context: 248,879,616 + 36,864 · C · 2
    assert r.decode_read_first == 248_879_616 + 36_864 * 17 * 2
    assert r.decode_read_last == 248_879_616 + 36_864 * 32 * 2
    # prefill at 16 tokens, FlopCounterMode's count (the gpt2 spec's header, from transformers): per block
    # 16·2·(2,359,296 + 4,718,592) + 2·2·12·16·16·64 = 227,278,848, × 12 + 16·2·768·50,257 = 3,962,462,208
    assert r.prefill_torch_flops == 2 * 3_962_462_208


def test_gqa_toy_by_hand():
    r = infer(LLAMA_TOY, prompt=8, generate=4, batch=2, weights="int4", group_size=32)
    # KV: 2 layers × 2 × 2 kv heads × 16 × 2 bytes (bf16) = 256 bytes per token (4 query heads would need 512)
    assert r.kv_per_token == 256 and r.kv_bytes == 256 * 12 * 2
    # int4 in groups of 32: per layer in_proj (64 + 2·32 = 128) × 64, out 64 × 64, gate and up 172 × 64,
    # down 64 × 172: 8,192 + 4,096 + 3·11,008 = 45,312 weights; groups 128·2 + 64·2 + 2·172·2 + 64·⌈172/32⌉
    # = 256 + 128 + 688 + 384 = 1,456. lm_head 1000 × 64: 64,000 weights, 2,000 groups. In all 154,624
    # weights / 2 = 77,312 bytes + 4,912 scales × 2 = 9,824; the embedding 64,000 and five RMSNorm γ of
    # 64 stay bf16: 64,320 × 2 = 128,640. Total 215,776.
    assert r.quantized_params == 154_624 and r.weight_bytes == 77_312 + 9_824 + 128_640
    # decode per sequence at context C: per layer rmsnorm (4 + 1)·64 = 320 twice, attention 2·12,288 + 64
    # scaling + 2·2·4·C·16 + 3·4·C = 24,640 + 268·C, adds 64 twice, gate, up, down 2·11,008 each, silu and
    # the product 172 each: 91,800 + 268·C; two layers, the final norm 320 and lm_head 128,000:
    # 311,920 + 536·C. FlopCounterMode: 2·(24,576 + 256·C + 3·22,016) + 128,000 = 309,248 + 512·C.
    assert r.decode_flops_first == 2 * (311_920 + 536 * 9) and r.decode_flops_last == 2 * (311_920 + 536 * 12)
    assert r.decode_torch_flops_first == 2 * (309_248 + 512 * 9)


def test_budget_answers_are_the_edges_of_what_fits():
    r = infer(LLAMA_TOY, prompt=8, generate=4, batch=2, budget="1MB")
    assert r.fits and r.max_batch >= 2
    assert infer(LLAMA_TOY, prompt=8, generate=4, batch=r.max_batch, budget="1MB").fits
    assert not infer(LLAMA_TOY, prompt=8, generate=4, batch=r.max_batch + 1, budget="1MB").fits
    longest = r.max_context
    assert infer(LLAMA_TOY, prompt=8, generate=longest - 8, batch=2, budget="1MB").fits
    assert not infer(LLAMA_TOY, prompt=8, generate=longest - 7, batch=2, budget="1MB").fits
    # GPT-2 has 1,024 positions: the longest context stops there, however large the budget
    assert infer("gpt2", prompt=16, budget="80GB").max_context == 1024
    # weights alone above the budget: nothing fits
    tight = infer("gpt2", prompt=16, budget="100MB")
    assert (tight.fits, tight.max_batch, tight.max_context) == (False, 0, 0)


@pytest.mark.parametrize("kwargs, words", [
    (dict(prompt=0), "--prompt must be a whole number >= 1"),
    (dict(prompt=-4), "--prompt must be"),
    (dict(prompt=4, generate=-1), "--generate must be"),
    (dict(prompt=1000, generate=100), "past the 1,024 tokens of the spec.s input"),
    (dict(prompt=4, dtype="int8"), "float type"),
])
def test_bad_input(kwargs, words):
    with pytest.raises(SpecError, match=words):
        infer("gpt2", **kwargs)


def test_cli_infer_and_its_refusals():
    done = run_cli("infer", "gpt2", "--prompt", "16", "--generate", "16", "--batch", "2", "--weights", "int4",
                   "--budget", "24GB")
    assert done.returncode == 0, done.stderr
    assert "36,864 bytes per token" in done.stdout and "122,804,736 bytes" in done.stdout and "fits" in done.stdout
    for args, words in [(("lstm_lm", "--prompt", "8"), "no attention layers"),
                        (("bert_base", "--prompt", "8"), "not causal"),
                        (("gpt2", "--prompt", "-1"), "--prompt must be"),
                        (("gpt2", "--prompt", "0"), "--prompt must be")]:
        bad = run_cli("infer", *args)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr and words in bad.stderr, bad.stderr


# ---- against real torch

@pytest.mark.skipif(torch is None, reason="needs torch")
def test_prefill_flops_are_flop_counter_modes():
    import archcalc
    from torch.utils.flop_counter import FlopCounterMode
    from archcalc.spec.graph import load_spec
    for spec, tokens in (("gpt2", 16), (LLAMA_TOY, 8)):
        with torch.device("meta"):
            model = archcalc.to_torch(load_spec(spec, input_shape=[tokens])).eval()
            ids = torch.zeros((2, tokens), dtype=torch.long)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(ids)
        assert counter.get_total_flops() == infer(spec, prompt=tokens, batch=2).prefill_torch_flops


def cached_attention(m, x, cache):
    """archcalc's Attention module run with a KV cache: the new tokens' q, k, v, the cache extended with
    their k and v, and attention over every cached token (causal among the new ones)."""
    b, n, _ = x.shape
    q, k, v = torch.nn.functional.linear(x, m.in_proj_weight, m.in_proj_bias).split(m.sizes, dim=-1)
    q = q.view(b, n, m.heads, m.head_dim).transpose(1, 2)
    k = k.view(b, n, m.kv_heads, m.head_dim).transpose(1, 2)
    v = v.view(b, n, m.kv_heads, m.head_dim).transpose(1, 2)
    if cache:
        k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
    cache[:] = [k, v]
    past = k.shape[2] - n
    if m.kv_heads != m.heads:
        k = k.repeat_interleave(m.heads // m.kv_heads, dim=1)
        v = v.repeat_interleave(m.heads // m.kv_heads, dim=1)
    scores = (q * m.head_dim ** -0.5) @ k.transpose(-2, -1)
    scores = scores + torch.full((n, past + n), float("-inf"), device=x.device).triu(past + 1)
    return m.out_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, m.heads * m.head_dim))


def run_with_cache(model, ids, caches):
    """The spec model's layers in order on `ids`, attention through its cache."""
    from archcalc.layers.torch_modules import Attention
    values = {"input": ids}
    for name, inputs, _ in model.plan:
        module = model.get_submodule(name)
        args = [values[ref] for ref in inputs]
        values[name] = (cached_attention(module, args[0], caches.setdefault(name, []))
                        if isinstance(module, Attention) else module(*args))
    return values[model.output_name]


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_a_real_decode_loop_counts_what_infer_says():
    """Prefill 8 tokens, then decode 4 one at a time with a KV cache: each step's logits are the full
    model's at that length (so this is decoding), and FlopCounterMode counts each step exactly as the
    decode rule predicts at its context."""
    import archcalc
    from torch.utils.flop_counter import FlopCounterMode
    from archcalc.analysis.inference import _Decoder, _graph_at
    torch.manual_seed(0)
    model = archcalc.to_torch(LLAMA_TOY).eval()
    ids = torch.randint(0, 1000, (2, 12))
    decoder = _Decoder(_graph_at(LLAMA_TOY, 1, None), 2, "fp32")
    caches = {}
    with torch.no_grad():
        run_with_cache(model, ids[:, :8], caches)
        for step in range(8, 12):
            with FlopCounterMode(display=False) as counter:
                logits = run_with_cache(model, ids[:, step:step + 1], caches)
            assert counter.get_total_flops() == decoder.torch_flops(step + 1)
            torch.testing.assert_close(logits[:, -1], model(ids[:, :step + 1])[:, -1], rtol=1e-4, atol=1e-4)
    r = infer(LLAMA_TOY, prompt=8, generate=4, batch=2)
    assert r.decode_torch_flops_first == decoder.torch_flops(9) and r.decode_torch_flops_last == decoder.torch_flops(12)


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_gpt2_single_token_attention_over_a_cached_context():
    """GPT-2's attention layer (768 wide, 12 heads) for one token over 40 cached ones, on the meta device:
    FlopCounterMode = 2·(768·2304 + 768·768) + 2·(2·12·41·64) = 4,718,592 + 125,952 per sequence (2 per
    MAC of the projections of one token, then of q·kᵀ and weights·v, 12·41·64 MACs each)."""
    from torch.utils.flop_counter import FlopCounterMode
    from archcalc.spec.graph import load_spec
    graph = load_spec("gpt2", input_shape=[1])
    node = next(n for n in graph.nodes if n.name == "h.0.attn")
    with torch.device("meta"):
        module = node.layer.torch_module([(1, 768)]).eval()
        cache = [torch.empty(3, 12, 40, 64), torch.empty(3, 12, 40, 64)]
        x = torch.empty(3, 1, 768)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        cached_attention(module, x, cache)
    assert counter.get_total_flops() == 3 * (4_718_592 + 125_952)
    assert 3 * node.layer.decode_torch_flops([(1, 768)], (1, 768), 41) == counter.get_total_flops()


def test_flash_attention_moves_prefill_s_peak_off_the_scores():
    """--attention flash: no (h, n, n) scores in prefill, so at 2,048 tokens the peak moves from the first
    attention layer to lm_head: its input ids 2,048·8 = 16,384 bytes (int64), the final norm's output
    2,048·64·2 = 262,144 and the logits 2,048·1,000·2 = 4,096,000 (bf16): 4,374,528. FLOPs by archcalc's
    count are the kernel's arithmetic either way; FlopCounterMode has no formula for the CPU flash kernel."""
    naive = infer(LLAMA_TOY, prompt=2048)
    flash = infer(LLAMA_TOY, prompt=2048, attention="flash")
    assert naive.prefill_peak_layer == "layers.0.attn" and naive.prefill_activation_bytes > 2 * 4 * 2048 * 2048
    assert (flash.prefill_peak_layer, flash.prefill_activation_bytes) == ("lm_head", 16_384 + 262_144 + 4_096_000)
    assert flash.prefill_flops == naive.prefill_flops and flash.prefill_torch_flops < naive.prefill_torch_flops
    result = run_cli("infer", "gpt2", "--prompt", "64", "--attention", "flash")
    assert result.returncode == 0 and "Prefill (64 tokens" in result.stdout
    assert run_cli("infer", "gpt2", "--prompt", "64", "--attention", "paged").returncode == 2
