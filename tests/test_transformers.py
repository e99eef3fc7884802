"""Sequences, attention and the transformer zoo specs against the real models (transformers' GPT-2 and
BERT built from their default configs on the meta device, no download) and against hand arithmetic."""
import pytest

import archcalc
from archcalc.errors import SpecError

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from archcalc.bridges.verify import verify  # noqa: E402

TOKENS = 16      # short sequences keep the real models cheap; the counting rule is the same at 1024


def disagreements(result):
    return [(layer.name, k, v) for layer in result.layers for k, v in layer.checks.items()
            if v[1] is not None and v[0] != v[1]] + [(k, v) for k, v in result.totals.items()
                                                     if v[1] is not None and v[0] != v[1]]


def meta_flops(model, x):
    with FlopCounterMode(display=False) as counter:
        out = model(x)
    return counter.get_total_flops(), out


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def gpt2(transformers):
    with torch.device("meta"):
        return transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()


@pytest.fixture(scope="module")
def bert(transformers):
    with torch.device("meta"):
        return transformers.BertModel(transformers.BertConfig()).eval()


def test_gpt2_parameters_by_hand_and_against_transformers(gpt2):
    # wte 50257·768 = 38,597,376; wpe 1024·768 = 786,432; per block: 2 LayerNorms 2·1,536, attention
    # 768·2304 + 2304 + 768·768 + 768 = 2,362,368, MLP 768·3072 + 3072 + 3072·768 + 768 = 4,722,432
    # -> 7,087,872; 12 blocks 85,054,464; ln_f 1,536; the LM head shares wte's weight: 0 more.
    by_hand = 38_597_376 + 786_432 + 12 * (3_072 + 2_362_368 + 4_722_432) + 1_536
    assert by_hand == 124_439_808
    report = archcalc.analyze("gpt2")
    assert report.totals.params == by_hand == sum(p.numel() for p in gpt2.parameters())
    assert report.totals.buffers == sum(b.numel() for b in gpt2.buffers()) == 0
    head = next(r for r in report.layers if r.name == "lm_head")
    assert head.params == 0 and head.macs == 1024 * 768 * 50257


def test_gpt2_flops_and_shape_against_transformers_on_meta(gpt2):
    x = torch.zeros(1, TOKENS, dtype=torch.long, device="meta")
    flops, out = meta_flops(gpt2, x)
    # per block 2·16·768·(2304 + 768 + 3072 + 3072) = 226,492,416 (addmm) + 2·2·12·16·16·64 = 786,432
    # (q·kᵀ and weights·v); the head 2·16·768·50257 = 1,235,116,032
    assert flops == 12 * (226_492_416 + 786_432) + 1_235_116_032 == 3_962_462_208
    report = archcalc.analyze("gpt2", input_shape=str(TOKENS))
    assert report.totals.torch_flops == flops
    assert tuple(out.logits.shape[1:]) == report.layers[-1].output_shape == (TOKENS, 50257)


def test_bert_base_against_transformers(bert):
    # embeddings 30522·768 + 512·768 + 2·768 + LayerNorm 1,536 = 23,837,184; 12 layers of 7,087,872;
    # pooler 768·768 + 768 = 590,592
    assert 23_837_184 + 12 * 7_087_872 + 590_592 == 109_482_240
    report = archcalc.analyze("bert_base", input_shape=str(TOKENS))
    assert report.totals.params == sum(p.numel() for p in bert.parameters()) == 109_482_240
    # position_ids and token_type_ids: 512 int64 each, buffers() lists them though they are not persistent
    assert report.totals.buffers == sum(b.numel() for b in bert.buffers()) == 1_024
    flops, out = meta_flops(bert, torch.zeros(1, TOKENS, dtype=torch.long, device="meta"))
    # 12·2·16·768·9216 = 2,717,908,992 (addmm) + the pooler 2·768·768 + 12·2·2·12·16·16·64 (bmm)
    assert flops == 2_717_908_992 + 1_179_648 + 9_437_184 == report.totals.torch_flops
    assert tuple(out.pooler_output.shape[1:]) == report.layers[-1].output_shape == (768,)


def test_vit_b_16_by_hand():
    """torchvision's vit_b_16 (not installed with torch 2.13 here): its published architecture, by hand."""
    report = archcalc.analyze("vit_b_16")
    # conv_proj 768·3·16·16 + 768 = 590,592; class token 768; positions 197·768 = 151,296; 12 blocks of
    # 7,087,872; final LayerNorm 1,536; head 768·1000 + 1000 = 769,000
    assert report.totals.params == 590_592 + 768 + 151_296 + 12 * 7_087_872 + 1_536 + 769_000 == 86_567_656
    # FlopCounterMode: conv 2·196·768·768 = 231,211,008; per block 2·197·768·9216 (linear) + 4·12·197·197·64
    # (q·kᵀ, weights·v) = 2,788,687,872 + 119,221,248; head 2·768·1000
    assert report.totals.torch_flops == 231_211_008 + 12 * (2_788_687_872 + 119_221_248) + 1_536_000
    shapes = {r.name: r.output_shape for r in report.layers}
    assert shapes["tokens"] == (196, 768) and shapes["class_token"] == (197, 768)
    assert shapes["head"] == (1000,)


@pytest.mark.parametrize("name,input_shape", [("gpt2", "8"), ("bert_base", "8"), ("vit_b_16", "3x32x32")])
def test_verify_all_agree_on_cpu(name, input_shape):
    result = verify(name, input_shape=input_shape)
    assert result.ok, disagreements(result)
    assert result.device == "cpu" and result.totals["saved_bytes"][1] is not None


def test_gpt2_verify_with_backward_at_batch_2():
    result = verify("gpt2", input_shape="8", batch=2, train=True)
    assert result.ok, disagreements(result)


def test_cli_verify_gpt2_all_ticks():
    from click.testing import CliRunner
    from archcalc.cli import main
    out = CliRunner().invoke(main, ["verify", "gpt2", "--input", "8"])
    assert out.exit_code == 0, out.output
    assert "✗" not in out.output and "All agree" in out.output


# ---- the layer types on small inputs, by hand and against torch

def attention_spec(**options):
    return {"name": "att", "input": [5, 8], "layers": [{"attention": {"name": "att", **options}}]}


def test_attention_params_equal_nn_multiheadattention():
    for bias in (True, False):
        mha = torch.nn.MultiheadAttention(8, 2, bias=bias, batch_first=True)
        report = archcalc.analyze(attention_spec(heads=2, bias=bias))
        # 4·8·8 weights (+ 3·8 + 8 biases)
        assert report.totals.params == sum(p.numel() for p in mha.parameters()) == 256 + (32 if bias else 0)


def test_grouped_query_attention_by_hand():
    # 4 heads of 3 features, 2 key/value heads: q 8·12, k and v 8·6 each, out 12·8, biases 12 + 12 + 8
    report = archcalc.analyze(attention_spec(heads=4, kv_heads=2, head_dim=3))
    assert report.totals.params == 96 + 48 + 48 + 96 + 24 + 8
    # FlopCounterMode: 2·5·8·24 + 2·2·4·5·5·3 + 2·5·12·8 = 1920 + 1200 + 960
    assert report.totals.torch_flops == 4080
    assert verify(attention_spec(heads=4, kv_heads=2, head_dim=3), batch=2, train=True).ok


def test_cross_attention_and_causal_dropout_agree_with_torch():
    spec = {"name": "cross", "input": [6, 8], "layers": [
        {"dense": {"name": "memory", "units": 6}},
        {"attention": {"name": "att", "heads": 2, "from": ["input", "memory"]}},
        {"attention": {"name": "causal", "heads": 2, "causal": True, "dropout": 0.1}}]}
    report = archcalc.analyze(spec)
    # cross-attention from width 8 to width 6: q 8·8, k and v 6·8 each, out 8·8, biases 24 + 8
    assert report.layers[1].params == 64 + 48 + 48 + 64 + 32
    for batch in (1, 2):
        result = verify(spec, batch=batch, train=True)
        assert result.ok, disagreements(result)


def test_sequence_tensor_ops_agree_with_torch():
    spec = {"name": "ops", "input": [4, 6, 6], "layers": [
        {"layernorm": {"name": "ln2d", "channels_first": True}},
        {"layer_scale": {"name": "gamma", "channels_first": True}},
        {"groupnorm": {"name": "gn", "groups": 2}},
        {"instancenorm": {"name": "inorm"}},
        {"flatten": {"name": "flat", "start": 1}},            # (4, 36)
        {"permute": {"name": "seq", "order": [1, 0]}},        # (36, 4)
        {"dense": {"name": "proj", "units": 6}},
        {"rmsnorm": {"name": "rms"}},
        {"take": {"name": "left", "sizes": [2, 4], "index": 1}},
        {"transpose": {"name": "t"}},                          # (4, 36)
        {"matmul": {"name": "gram", "from": ["left", "t"]}},   # (36, 36)
        {"concat": {"name": "cat", "axis": -1, "from": ["gram", "left"]}},   # (36, 40)
        {"mean": {"name": "avg", "axes": 0}},                  # (40,)
        {"drop_path": {"name": "dp", "rate": 0.2}},
        "identity",
    ]}
    report = archcalc.analyze(spec)
    shapes = {r.name: r.output_shape for r in report.layers}
    assert shapes["seq"] == (36, 4) and shapes["gram"] == (36, 36) and shapes["cat"] == (36, 40)
    assert shapes["avg"] == (40,)
    # proj: 36·4·6 MACs; gram: 36·36·4
    assert report.totals.macs == 36 * 4 * 6 + 36 * 36 * 4
    for batch in (1, 2):
        result = verify(spec, batch=batch, train=True)
        assert result.ok, disagreements(result)


def test_tie_refuses_mismatched_weights():
    spec = {"name": "tied", "input": {"shape": [4], "dtype": "int64"}, "layers": [
        {"embedding": {"name": "wte", "vocabulary": 10, "dimension": 6}},
        {"dense": {"name": "head", "units": 9, "tie": "wte"}}]}
    with pytest.raises(SpecError) as caught:
        archcalc.analyze(spec)
    assert "(9, 6)" in str(caught.value) and "(10, 6)" in str(caught.value) and "head" in str(caught.value)


def test_input_dtype_must_be_known():
    with pytest.raises(SpecError) as caught:
        archcalc.analyze({"input": {"shape": [4], "dtype": "float16x"}, "layers": ["relu"]})
    assert "int64" in str(caught.value)


@pytest.mark.parametrize("batch", [1, 2])
def test_every_sequence_type_agrees_with_torch(batch):
    """Every sequence layer type in one spec (tests/test_explain.py's), with backward."""
    import yaml
    from test_explain import EVERY_SEQUENCE_TYPE
    result = verify(yaml.safe_load(EVERY_SEQUENCE_TYPE), batch=batch, train=True)
    assert result.ok, disagreements(result)


MAPS_TO_TOKENS = {"name": "maps_to_tokens", "input": [4, 6, 6], "layers": [
    {"layernorm": {"name": "ln2d", "channels_first": True}},
    {"layer_scale": {"name": "gamma", "channels_first": True}},
    {"groupnorm": {"name": "gn", "groups": 2}},
    {"instancenorm": {"name": "inorm"}},
    {"flatten": {"name": "flat", "start": 1}},
    {"permute": {"name": "seq", "order": [1, 0]}},
    {"dense": {"name": "proj", "units": 6}},
    {"layernorm": {"name": "ln"}},
    {"attention": {"name": "att", "heads": 2}},
    {"concat": {"name": "cat", "axis": 0, "from": ["att", "proj"]}}]}


@pytest.mark.parametrize("tool", ["torch", "thop", "ptflops", "fvcore", "torchinfo"])
def test_every_sequence_type_counts_as_the_real_tool(tool):
    """Each convention's rule for the new types, against the tool itself run on to_torch of the spec."""
    import yaml
    from test_conventions import measure
    from test_explain import EVERY_SEQUENCE_TYPE
    for spec in (yaml.safe_load(EVERY_SEQUENCE_TYPE), MAPS_TO_TOKENS):
        assert archcalc.analyze(spec, batch=2, convention=tool).totals.flops == measure(tool, spec, 2), tool


# ---- from-torch: token ids, nn.Embedding, nn.MultiheadAttention, chunk, reshape, transpose, sdpa, indexing

class TinyLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.wte = nn.Embedding(50, 16)
        self.ln = nn.LayerNorm(16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.qkv = nn.Linear(16, 48)
        self.out = nn.Linear(16, 50)

    def forward(self, ids):
        x = self.wte(ids)
        h = self.ln(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        n = x.shape[1]
        q, k, v = (t.reshape(1, n, 2, 8).transpose(1, 2) for t in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.permute(0, 2, 1, 3).reshape(1, n, 16)[:, 0])


def test_from_torch_reads_a_small_language_model():
    from archcalc.bridges.from_torch import from_torch
    model = TinyLM()
    spec = from_torch(model, "12:int64")
    assert spec["input"] == {"shape": [12], "dtype": "int64"}
    types = [next(iter(entry)) for entry in spec["layers"]]
    assert types[:3] == ["embedding", "layernorm", "attention"]
    assert types.count("take") == 3 and "scaled_dot_product_attention" in types and types[-2:] == ["select", "dense"]
    report = archcalc.analyze(spec)
    # 50·16 + 2·16 + (4·16·16 + 4·16) + (16·48 + 48) + (16·50 + 50)
    assert report.totals.params == sum(p.numel() for p in model.parameters()) == 800 + 32 + 1088 + 816 + 850
    assert report.layers[-1].output_shape == (50,)
    # FlopCounterMode on meta, where nn.MultiheadAttention's and sdpa's products are counted as bmm:
    # archcalc's attention counts the same four products as nn.MultiheadAttention.
    with torch.device("meta"):
        meta_model = TinyLM().train()
    flops, _ = meta_flops(meta_model, torch.zeros(1, 12, dtype=torch.long, device="meta"))
    assert report.totals.torch_flops == flops


def test_from_torch_refuses_an_unknown_input_dtype():
    from archcalc.bridges.from_torch import from_torch
    with pytest.raises(SpecError) as caught:
        from_torch(TinyLM(), "12:int8")
    assert "int64" in str(caught.value)


def test_export_torch_writes_a_runnable_tied_gpt2():
    from archcalc.bridges.torch_model import torch_source
    source = torch_source(archcalc.load_spec("gpt2", input_shape="8"))
    assert "self.lm_head.weight = self.wte.weight  # tied" in source
    namespace = {}
    exec(compile(source.split('if __name__ == "__main__":')[0], "gpt2_export.py", "exec"), namespace)
    with torch.device("meta"):
        model = namespace["Gpt2"]()
    assert sum(p.numel() for p in model.parameters()) == 124_439_808
    assert tuple(model(torch.zeros(1, 8, dtype=torch.long, device="meta")).shape) == (1, 8, 50257)


@pytest.mark.parametrize("which", ["sequence", "maps_to_tokens"])
def test_memory_liveness_peak_equals_eager_pytorch(which):
    """archcalc memory's inference peak (attention's temporaries included) against every storage eager
    PyTorch holds, measured as tests/test_memory.py does."""
    import yaml
    from test_explain import EVERY_SEQUENCE_TYPE
    from test_memory import eager_inference_peak
    from archcalc.analysis.memory import memory
    graph = archcalc.load_spec(yaml.safe_load(EVERY_SEQUENCE_TYPE) if which == "sequence" else MAPS_TO_TOKENS)
    assert memory(graph, batch=2).peak_activation_bytes == eager_inference_peak(graph, 2)


def test_cli_bad_transformer_specs_name_file_line_and_layer(write_spec):
    from conftest import run_cli
    heads = write_spec("input: {shape: [16], dtype: int64}\nlayers:\n  - embedding: {vocabulary: 100, dimension: 30}\n"
                       "  - attention: {name: att, heads: 4}\n", "heads.yaml")
    result = run_cli("summarize", heads)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "heads.yaml:4: layer 'att': attention: 30 features do not split into 4 heads" in result.stderr
    tie = write_spec("input: [16, 8]\nlayers:\n  - dense: {name: head, units: 9, tie: nothing}\n", "tie.yaml")
    result = run_cli("summarize", tie)
    assert result.returncode == 2 and "`tie` refers to 'nothing', which is not an earlier layer" in result.stderr


class Encoder(torch.nn.Module):
    def __init__(self, norm_first):
        super().__init__()
        self.proj = torch.nn.Linear(8, 16)
        self.layer = torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True,
                                                      norm_first=norm_first, activation="gelu")
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.layer(self.proj(x))[:, 0])


@pytest.mark.parametrize("norm_first", [False, True])
def test_from_torch_expands_a_transformer_encoder_layer(norm_first):
    from archcalc.bridges.from_torch import from_torch
    spec = from_torch(Encoder(norm_first), "5x8")
    types = [next(iter(entry)) for entry in spec["layers"]]
    assert types.count("layernorm") == 2 and types.count("attention") == 1 and types.count("add") == 2
    assert types[1] == ("layernorm" if norm_first else "attention")
    report = archcalc.analyze(spec)
    # proj 8·16 + 16; attention 4·16·16 + 4·16; linear1 16·32 + 32, linear2 32·16 + 16; 2 LayerNorms 2·32;
    # head 16·3 + 3
    assert report.totals.params == sum(p.numel() for p in Encoder(norm_first).parameters()) == \
        144 + 1088 + 544 + 528 + 64 + 51
    with torch.device("meta"):
        meta_model = Encoder(norm_first).train()
    flops, _ = meta_flops(meta_model, torch.zeros(1, 5, 8, device="meta"))
    assert report.totals.torch_flops == flops


def test_from_torch_expands_a_transformer_encoder():
    from archcalc.bridges.from_torch import from_torch

    class Stack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(16, 4, dim_feedforward=24, batch_first=True)
            self.encoder = torch.nn.TransformerEncoder(layer, 3, norm=torch.nn.LayerNorm(16),
                                                       enable_nested_tensor=False)

        def forward(self, x):
            return self.encoder(x)

    model = Stack()
    spec = from_torch(model, "6x16")
    assert sum(1 for entry in spec["layers"] if "attention" in entry) == 3
    # per layer: attention 4·16·16 + 4·16 = 1088, linear1 16·24 + 24 = 408, linear2 24·16 + 16 = 400,
    # two LayerNorms 64: 1,960; three layers and the final LayerNorm 32
    assert archcalc.analyze(spec).totals.params == sum(p.numel() for p in model.parameters()) == 3 * 1960 + 32
