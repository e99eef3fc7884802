"""archcalc from-hf: specs from Hugging Face config.json files, checked against transformers' own models
built from the same configs on the meta device (no weights, no memory, no download): parameter counts
of the published 7B configs, and FlopCounterMode's forward and backward FLOPs of a tiny config of each
family. Expected totals are also derived by hand where they are famous."""
import json
import os
import subprocess
import sys
import time

import pytest

import archcalc
from archcalc.errors import SpecError

from conftest import SPECS, cli, run_cli

# Published config.json values (the keys that shape the model), as on the Hugging Face Hub.
LLAMA2_7B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
             "hidden_size": 4096, "intermediate_size": 11008, "max_position_embeddings": 4096,
             "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
             "rms_norm_eps": 1e-05, "tie_word_embeddings": False, "vocab_size": 32000,
             "_name_or_path": "meta-llama/Llama-2-7b-hf"}
LLAMA2_70B = {**LLAMA2_7B, "hidden_size": 8192, "intermediate_size": 28672, "num_attention_heads": 64,
              "num_hidden_layers": 80, "num_key_value_heads": 8, "_name_or_path": "meta-llama/Llama-2-70b-hf"}
MISTRAL_7B = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_act": "silu",
              "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 32768,
              "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
              "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
              "tie_word_embeddings": False, "vocab_size": 32000}
QWEN2_7B = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
            "hidden_size": 3584, "intermediate_size": 18944, "max_position_embeddings": 131072,
            "max_window_layers": 28, "num_attention_heads": 28, "num_hidden_layers": 28,
            "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
            "sliding_window": 131072, "tie_word_embeddings": False, "use_sliding_window": False,
            "vocab_size": 152064}
GEMMA_7B = {"architectures": ["GemmaForCausalLM"], "model_type": "gemma", "head_dim": 256, "hidden_act": "gelu",
            "hidden_size": 3072, "intermediate_size": 24576, "max_position_embeddings": 8192,
            "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 16,
            "rms_norm_eps": 1e-06, "vocab_size": 256000}
GPT2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
        "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "vocab_size": 50257,
        "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1, "layer_norm_epsilon": 1e-05}
BERT_BASE = {"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_act": "gelu",
             "hidden_size": 768, "intermediate_size": 3072, "max_position_embeddings": 512,
             "num_attention_heads": 12, "num_hidden_layers": 12, "type_vocab_size": 2, "vocab_size": 30522,
             "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1, "layer_norm_eps": 1e-12}
PUBLISHED = {"llama2_7b": LLAMA2_7B, "mistral_7b": MISTRAL_7B, "qwen2_7b": QWEN2_7B, "gemma_7b": GEMMA_7B,
             "gpt2": GPT2, "bert_base": BERT_BASE}

# Tiny configs of each family: 2 layers of width 64, 4 heads sharing 2 key/value heads, MLP 96, vocabulary 128
SMALL = {"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2,
         "num_hidden_layers": 2, "vocab_size": 128, "max_position_embeddings": 64}
TINY = {
    "llama": {"model_type": "llama", **SMALL},
    "llama_biased": {"model_type": "llama", "attention_bias": True, "mlp_bias": True, **SMALL},
    "mistral": {"model_type": "mistral", "sliding_window": 8, **SMALL},
    "qwen2": {"model_type": "qwen2", **SMALL},
    "qwen2_tied": {"model_type": "qwen2", "tie_word_embeddings": True, **SMALL},
    "gemma": {"model_type": "gemma", "head_dim": 32, **SMALL},
    "gpt2": {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 128, "n_positions": 64,
             "bos_token_id": 0, "eos_token_id": 0},
    "bert": {"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 96, "vocab_size": 128, "max_position_embeddings": 64},
}
# without dropout the spec has no dropout layers (the residuals read the layer before)
TINY["gpt2_no_dropout"] = {**TINY["gpt2"], "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
TINY["bert_no_dropout"] = {**TINY["bert"], "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
TOKENS, BATCH = 16, 2


@pytest.fixture(autouse=True)
def _own_state(tmp_path, monkeypatch):
    """The record of files archcalc wrote lives in this test's folder."""
    monkeypatch.setenv("ARCHCALC_STATE_DIR", str(tmp_path / "state"))


# ---- well-known totals, by hand (no torch needed)

def test_llama2_7b_and_mistral_7b_totals_by_hand():
    # Llama-2-7B: embed_tokens and the untied lm_head 32000·4096 = 131,072,000 each; per layer q, k, v, o
    # 4·4096² = 67,108,864, MLP gate, up, down 3·4096·11008 = 135,266,304, two RMSNorms 2·4096 -> 202,383,360;
    # 32 layers, the final norm 4096
    llama = 2 * 131_072_000 + 32 * (67_108_864 + 135_266_304 + 8_192) + 4_096
    assert llama == 6_738_415_616 == archcalc.analyze(archcalc.from_hf(LLAMA2_7B)).totals.params
    # Mistral-7B: 8 key/value heads of 128: k and v 4096·1024 each; MLP 3·4096·14336
    per_layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096
    mistral = 2 * 131_072_000 + 32 * per_layer + 4_096
    assert mistral == 7_241_732_096 == archcalc.analyze(archcalc.from_hf(MISTRAL_7B)).totals.params


def test_llama2_70b_by_hand_and_summarized_in_milliseconds():
    # 64 heads, 8 key/value heads of 128: q and o 8192² each, k and v 8192·1024 each; MLP 3·8192·28672;
    # 80 layers; embeddings and the head 2·32000·8192; the final norm 8192
    per_layer = 2 * 8192**2 + 2 * 8192 * 1024 + 3 * 8192 * 28672 + 2 * 8192
    expected = 80 * per_layer + 2 * 32000 * 8192 + 8192
    start = time.perf_counter()
    report = archcalc.analyze(archcalc.from_hf(LLAMA2_70B))
    seconds = time.perf_counter() - start
    assert report.totals.params == expected == 68_976_648_192
    assert report.layers[-1].output_shape == (4096, 32000)
    assert len(report.layers) == 80 * 10 + 3
    assert seconds < 2, f"{seconds:.3f} s for 803 layers"     # ~0.03 s here; 2 s on a busy machine


# ---- against transformers on the meta device

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


def reference(transformers, config, attn_implementation="eager"):
    """transformers' model of `config` on the meta device: the causal LM, or BertModel for bert (AutoModel)."""
    built = transformers.AutoConfig.for_model(**{k: v for k, v in config.items() if not k.startswith("_")},
                                              attn_implementation=attn_implementation)
    auto = transformers.AutoModel if config["model_type"] == "bert" else transformers.AutoModelForCausalLM
    with torch.device("meta"):
        return auto.from_config(built)


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_configs_parameters_equal_transformers(transformers, name, tmp_path):
    config = PUBLISHED[name]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=2))
    model = reference(transformers, config)
    report = archcalc.analyze(archcalc.from_hf(path))
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    # transformers' non-persistent buffers: BERT's position and token type ids are in the spec (id_buffer);
    # the decoders' rotary inv_freq and original_inv_freq (head_dim/2 float32 each) and Gemma's
    # embedding scale √hidden (one scalar, embed_scale) are not, having no layer of their own.
    buffers = dict(model.named_buffers())
    if name in ("gpt2", "bert_base"):
        assert report.totals.buffers == sum(b.numel() for b in buffers.values())
    else:
        head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
        rotary = {"model.rotary_emb.inv_freq": head_dim // 2, "model.rotary_emb.original_inv_freq": head_dim // 2}
        assert {k: b.numel() for k, b in buffers.items()} == (
            {**rotary, "model.embed_tokens.embed_scale": 1} if name == "gemma_7b" else rotary)
        assert report.totals.buffers == 0


def test_published_totals_that_are_well_known():
    """The totals papers and model cards print, from the configs alone."""
    totals = {name: archcalc.analyze(archcalc.from_hf(c)).totals.params for name, c in PUBLISHED.items()}
    assert totals == {"llama2_7b": 6_738_415_616, "mistral_7b": 7_241_732_096, "qwen2_7b": 7_615_616_512,
                      "gemma_7b": 8_537_680_896, "gpt2": 124_439_808, "bert_base": 109_482_240}


def test_gpt2_and_bert_match_the_hand_written_zoo_specs():
    """from-hf's GPT-2 and BERT are the zoo's gpt2 and bert_base, layer for layer."""
    for config, zoo in ((GPT2, "gpt2"), (BERT_BASE, "bert_base")):
        ours, theirs = archcalc.analyze(archcalc.from_hf(config)), archcalc.analyze(zoo)
        for field in ("params", "buffers", "macs", "flops", "torch_flops", "torch_backward_flops", "saved_bytes"):
            assert getattr(ours.totals, field) == getattr(theirs.totals, field), (zoo, field)
        assert [(r.output_shape, r.params) for r in ours.layers] == [(r.output_shape, r.params) for r in theirs.layers]
    assert (SPECS / "gpt2.yaml").is_file()


@pytest.mark.parametrize("name", list(TINY))
def test_tiny_configs_flops_forward_and_backward_equal_flopcountermode(transformers, name):
    config = TINY[name]
    model = reference(transformers, config).train()
    ids = torch.zeros(BATCH, TOKENS, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as counter:
        out = model(ids)
    forward = counter.get_total_flops()
    result = out.pooler_output if name.startswith("bert") else out.logits
    with FlopCounterMode(display=False) as counter:
        result.sum().backward()
    backward = counter.get_total_flops()
    report = archcalc.analyze(archcalc.from_hf(config, tokens=TOKENS), batch=BATCH)
    assert (report.totals.torch_flops, report.totals.torch_backward_flops) == (forward, backward)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.layers[-1].output_shape == tuple(result.shape[1:])
    if "no_dropout" in name:
        assert "dropout" not in {r.type for r in report.layers}


def test_tiny_llama_flops_by_hand():
    # per layer: projections 16·64·(64 + 32 + 32 + 64) and MLP 16·3·64·96 MACs, q·kᵀ and weights·v
    # 2·4·16·16·16; the head 16·64·128. FlopCounterMode: 2 per MAC, at batch 2
    per_layer = 16 * 64 * 192 + 16 * 3 * 64 * 96 + 2 * 4 * 16 * 16 * 16
    report = archcalc.analyze(archcalc.from_hf(TINY["llama"], tokens=16), batch=2)
    assert report.totals.torch_flops == 2 * 2 * (2 * per_layer + 16 * 64 * 128) == 4_718_592


def test_sdpa_counts_as_eager_on_meta(transformers):
    """attn_implementation "sdpa" on the meta device takes the math path: the same FLOPs as eager."""
    counts = []
    for implementation in ("eager", "sdpa"):
        model = reference(transformers, TINY["gemma"], implementation)
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, TOKENS, dtype=torch.long, device="meta"))
        counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] == archcalc.analyze(archcalc.from_hf(TINY["gemma"], tokens=TOKENS)).totals.torch_flops


@pytest.mark.parametrize("name", ["llama_biased", "qwen2", "gemma"])
def test_every_layer_holds_the_parameters_of_its_transformers_module(transformers, name):
    config = TINY[name]
    model = reference(transformers, config)
    params = {n: p.numel() for n, p in model.named_parameters()}
    report = archcalc.analyze(archcalc.from_hf(config, tokens=TOKENS))
    for record in report.layers:
        # the MLP's projections sit in an `mlp` module: layers.0.gate_proj is model.layers.0.mlp.gate_proj
        name = record.name.replace(".gate_proj", ".mlp.gate_proj").replace(".up_proj", ".mlp.up_proj")
        name = name.replace(".down_proj", ".mlp.down_proj")
        module = name if name == "lm_head" else f"model.{name}"
        held = sum(v for k, v in params.items() if k.startswith(module + "."))
        assert record.params == held, (record.name, record.params, held)
    assert sum(r.params for r in report.layers) == sum(params.values())


def test_qwen2_attention_has_qkv_biases_and_no_out_bias(transformers):
    model = reference(transformers, TINY["qwen2"])
    attention = model.model.layers[0].self_attn
    assert attention.q_proj.bias is not None and attention.o_proj.bias is None
    spec = archcalc.from_hf(TINY["qwen2"])
    entry = next(e["attention"] for e in spec["blocks"]["decoder_layer"]["layers"] if "attention" in e)
    assert entry["bias"] is True and entry["out_bias"] is False
    # q 64·64 + 64, k and v 64·32 + 32 each, o 64·64 and no bias
    record = next(r for r in archcalc.analyze(spec).layers if r.name == "layers.0.self_attn")
    assert record.params == 4096 + 64 + 2 * (2048 + 32) + 4096 == sum(p.numel() for p in attention.parameters())


def test_generated_spec_agrees_with_its_own_torch_build():
    """archcalc verify on a tiny Qwen2 spec: archcalc's torch modules (out_bias included) against the spec."""
    from archcalc.bridges.verify import verify
    result = verify(archcalc.from_hf(TINY["qwen2"], tokens=8), batch=2, train=True)
    assert result.ok, [(layer.name, k, v) for layer in result.layers for k, v in layer.checks.items()
                       if v[1] is not None and v[0] != v[1]]


def test_attention_out_bias_by_hand():
    def params(**options):
        return archcalc.analyze({"input": [5, 8], "layers": [{"attention": {"heads": 2, **options}}]}).totals.params
    # weights 3·8·8 + 8·8 = 256; in-projection biases 24; the output projection's bias 8
    assert params() == 256 + 24 + 8
    assert params(out_bias=False) == 256 + 24
    assert params(bias=False, out_bias=True) == 256 + 8
    assert params(bias=False) == 256


# ---- the command

def test_cli_writes_a_spec_from_a_model_folder(tmp_path):
    folder = tmp_path / "Llama-2-7b-hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({k: v for k, v in LLAMA2_7B.items() if k != "_name_or_path"}))
    out = tmp_path / "llama.yaml"
    done = run_cli("from-hf", folder, "-o", out)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.startswith("# Written by archcalc from-hf") and "name: Llama-2-7b-hf" in text
    summary = run_cli("summarize", out, "--input", "128")
    assert summary.returncode == 0, summary.stderr
    assert "6,738,415,616" in summary.stdout
    again = run_cli("from-hf", folder / "config.json", "--tokens", "512", "-o", out)   # its own output: replaced
    assert again.returncode == 0, again.stderr
    assert "input: {shape: [512], dtype: int64}" in out.read_text()


def test_cli_never_overwrites_a_users_file_without_force(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY["llama"]))
    mine = tmp_path / "notes.yaml"
    mine.write_text("my notes\n")
    refused = cli("from-hf", config, "-o", mine)
    assert refused.returncode == 2 and mine.read_text() == "my notes\n"
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    forced = cli("from-hf", config, "-o", mine, "--force")
    assert forced.returncode == 0 and mine.read_text().startswith("# Written by archcalc from-hf")
    # the config itself, named or inside the folder named, is an input: never replaced, --force or not
    for source in (config, tmp_path):
        kept = cli("from-hf", source, "-o", config, "--force")
        assert kept.returncode == 2 and "input" in kept.stderr
        assert json.loads(config.read_text()) == TINY["llama"]


def test_cli_stdout_and_help():
    done = cli("from-hf", "--help")
    assert done.returncode == 0 and "archcalc from-hf" in done.stdout.split("Example:")[-1]


BAD = [
    ("not json", "{'model_type': llama}", "config.json:1", "not a JSON config"),
    ("a list", "[1, 2]", "config.json:1", "not an object"),
    ("no model_type", json.dumps({"hidden_size": 8}), "config.json", "missing key 'model_type'"),
    ("unknown family", json.dumps({"model_type": "lama"}), "config.json:1", "did you mean 'llama'"),
    ("missing size", json.dumps({k: v for k, v in TINY["llama"].items() if k != "hidden_size"}, indent=1),
     "config.json", "missing key 'hidden_size'"),
    ("negative size", json.dumps({**TINY["llama"], "vocab_size": -128}, indent=1), "config.json:8",
     "'vocab_size' must be positive, got -128"),
    ("a flag as a size", json.dumps({**TINY["llama"], "num_hidden_layers": True}, indent=1), "config.json:7",
     "'num_hidden_layers' must be a whole number"),
    ("uneven heads", json.dumps({**TINY["llama"], "num_key_value_heads": 3}, indent=1), "config.json:6",
     "4 attention heads do not share 3 key/value heads"),
    ("unknown activation", json.dumps({**TINY["llama"], "hidden_act": "quick_gelu"}), "config.json:1",
     "'hidden_act' is 'quick_gelu'"),
    ("too many tokens for learned positions", json.dumps(TINY["gpt2"]), "config.json",
     "more than the 64 learned positions"),
]


@pytest.mark.parametrize("case,text,where,message", BAD, ids=[b[0] for b in BAD])
def test_bad_configs_get_one_clear_message_and_exit_2(tmp_path, case, text, where, message):
    path = tmp_path / "config.json"
    path.write_text(text)
    args = ["from-hf", path] + (["--tokens", "65"] if case.startswith("too many") else [])
    done = cli(*args)
    assert done.returncode == 2, done.stdout
    assert where in done.stderr and message in done.stderr and "fix:" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    with pytest.raises(SpecError):
        archcalc.from_hf(path, tokens=65 if case.startswith("too many") else None)


def test_bad_paths_and_tokens(tmp_path):
    missing = cli("from-hf", tmp_path / "nope.json")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    empty = cli("from-hf", tmp_path)
    assert empty.returncode == 2 and "holds no config.json" in empty.stderr
    (tmp_path / "config.json").write_text(json.dumps(TINY["llama"]))
    negative = cli("from-hf", tmp_path, "--tokens", "-5")
    assert negative.returncode == 2 and "--tokens" in negative.stderr and "Traceback" not in negative.stderr


def test_no_torch_or_transformers_imported():
    code = ("import sys, archcalc; archcalc.analyze(archcalc.from_hf(%r)); archcalc.from_hf_yaml(%r); "
            "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))") % (LLAMA2_70B,
                                                                                                 LLAMA2_70B)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    assert "torch" not in done.stdout and "transformers" not in done.stdout


@pytest.mark.parametrize("tool", ["torch", "thop", "ptflops", "fvcore", "torchinfo"])
def test_attention_out_bias_under_each_tools_convention(tool):
    """The rules that see the output projection (ptflops and torchinfo count its bias) follow out_bias."""
    from test_conventions import measure
    for bias, out_bias in ((True, False), (False, True)):
        spec = {"name": "qwen_attention", "input": [5, 8],
                "layers": [{"attention": {"heads": 4, "kv_heads": 2, "bias": bias, "out_bias": out_bias}}]}
        assert archcalc.analyze(spec, batch=2, convention=tool).totals.flops == measure(tool, spec, 2), (bias, out_bias)


@pytest.mark.parametrize("key,value", [("hidden_act", ["silu"]), ("hidden_size", float("nan")),
                                       ("vocab_size", 10**400), ("tie_word_embeddings", "false"),
                                       ("rms_norm_eps", float("inf")), ("num_hidden_layers", 100_000),
                                       ("head_dim", 0), ("attention_dropout", 1.0), ("model_type", ["llama"])])
def test_hostile_values_are_spec_errors_naming_the_key(key, value):
    with pytest.raises(SpecError) as caught:
        archcalc.from_hf_yaml({**TINY["llama"], key: value})
    assert key in str(caught.value) and caught.value.hint
