"""archcalc from-hf: a spec from a Hugging Face `config.json`, without the model, torch or transformers.

Pure Python (json, PyYAML for the text): nothing here imports torch or transformers, so a 70B config
becomes a spec, and its summary, in well under a second on a laptop.

Families and the model each one's spec is (what tests/test_from_hf.py builds with transformers on the
meta device and compares parameter for parameter and FLOP for FLOP):

- gpt2: GPT2LMHeadModel. Learned positions, pre-norm LayerNorm blocks, biased attention and MLP,
  the LM head tied to the token embedding (tie_word_embeddings, default true).
- bert: BertModel (the encoder and its pooler, as AutoModel builds it; no masked-LM head).
- llama, mistral, qwen2, gemma: *ForCausalLM. RMSNorm pre-norm blocks, rotary positions, grouped-query
  attention, a gated MLP down(act(gate(x)) ⊙ up(x)) and an LM head (untied unless the config ties it;
  Gemma ties by default). Qwen2 has biases on q, k and v but none on o_proj; Gemma's head_dim (256)
  need not be hidden / heads, and its MLP is GeGLU (gelu, tanh form).

A key the config leaves out takes transformers' default for that family (LlamaConfig's, MistralConfig's,
...), except the sizes, which must be given: a config without hidden_size is not a config of a model.
What the spec does not count, and why, is written in its header (rotary embeddings, sliding windows,
Gemma's embedding scale).
"""
import json
import math
import re
from pathlib import Path

from ..errors import SpecError, read_text
from ..layers import lookup

FAMILIES = ("gpt2", "bert", "llama", "mistral", "qwen2", "gemma")
MAX_SIZE = 2**31 - 1        # any one size (hidden, vocabulary, heads, tokens): far beyond real models
MAX_LAYERS = 8192           # blocks; ~10 spec layers each stays under the loader's 100,000
CONFIG_NAME = "config.json"
_REQUIRED = object()

# transformers' ACT2FN names -> an archcalc activation entry
ACTIVATIONS = {
    "silu": ("silu", {}), "swish": ("silu", {}),
    "gelu": ("gelu", {}), "gelu_new": ("gelu", {"approximate": "tanh"}),
    "gelu_pytorch_tanh": ("gelu", {"approximate": "tanh"}),
    "relu": ("relu", {}), "tanh": ("tanh", {}),
}


class Config:
    """A config.json's mapping, read with the file's name and each key's line for the messages."""

    def __init__(self, data, file="config", text=None):
        self.data, self.file, self.text = data, file, text

    def line(self, key):
        if not self.text:
            return None
        found = re.search(r'"%s"\s*:' % re.escape(key), self.text)
        return self.text.count("\n", 0, found.start()) + 1 if found else None

    def error(self, key, message, hint=None):
        return SpecError(message, file=self.file, line=self.line(key) if key else None, hint=hint)

    def has(self, key):
        return self.data.get(key) is not None

    def first(self, keys):
        """The first of `keys` (a name and its other spellings: n_embd / hidden_size) the config sets."""
        keys = (keys,) if isinstance(keys, str) else tuple(keys)
        return next((k for k in keys if self.has(k)), keys[0])

    def size(self, keys, default=_REQUIRED, minimum=1, maximum=MAX_SIZE, family=None):
        key = self.first(keys)
        value = self.data.get(key)
        if value is None:
            if default is _REQUIRED:
                spelled = " or ".join(f"'{k}'" for k in ((keys,) if isinstance(keys, str) else keys))
                raise self.error(None, f"missing key {spelled}: a {family or 'this'} config must give it",
                                 hint=f'add "{key}": <a whole number> to the config')
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and (not math.isfinite(value) or value != int(value))):
            raise self.error(key, f"'{key}' must be a whole number, got {value!r}",
                             hint=f'write e.g. "{key}": {max(minimum, 1)}')
        value = int(value)
        if value < minimum:
            what = "positive" if minimum == 1 else f"at least {minimum}"
            raise self.error(key, f"'{key}' must be {what}, got {value:,}",
                             hint=f"a size is a count: {minimum} or more")
        if value > maximum:
            raise self.error(key, f"'{key}' is {value:,}, more than archcalc takes ({maximum:,})",
                             hint="is this the right key? real models are far smaller")
        return value

    def rate(self, key, default=0.0):
        value = self.data.get(key, default)
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise self.error(key, f"'{key}' must be a probability from 0 to below 1, got {value!r}",
                             hint=f'e.g. "{key}": 0.1')
        return value

    def eps(self, key, default):
        value = self.data.get(key, default)
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < 1):
            raise self.error(key, f"'{key}' must be a small non-negative number, got {value!r}",
                             hint=f'e.g. "{key}": 1e-05')
        return value

    def flag(self, key, default):
        value = self.data.get(key, default)
        value = default if value is None else value
        if not isinstance(value, bool):
            raise self.error(key, f"'{key}' must be true or false, got {value!r}", hint=f'write "{key}": true')
        return value

    def activation(self, keys, default, mapping=None):
        key = self.first(keys)
        value = self.data.get(key) or default
        value = (mapping or {}).get(value, value) if isinstance(value, str) else value
        if not isinstance(value, str) or value not in ACTIVATIONS:
            raise self.error(key, f"'{key}' is {value!r}, an activation archcalc has no counterpart for",
                             hint=f"one of: {', '.join(ACTIVATIONS)}")
        return ACTIVATIONS[value]

    def refuse(self, key, values, why):
        """A setting the family's spec cannot express: any true value of `key`, or one of `values`."""
        value = self.data.get(key)
        if (value in values) if values else (value not in (None, False, 0, "", [], {})):
            raise self.error(key, f"'{key}' = {self.data.get(key)!r}: {why}",
                             hint="archcalc's spec of this family does not express it; write the spec by hand")


def read_config(source):
    """`source`: a config.json path, a folder holding one, or an already-read mapping -> Config."""
    if isinstance(source, Config):
        return source
    if isinstance(source, dict):
        return Config(source, file="config")
    path = Path(source)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise SpecError(f"the folder '{source}' holds no {CONFIG_NAME}", file=str(source),
                            hint="name the config file itself, or the model folder that holds config.json")
        path = path / CONFIG_NAME
    elif not path.exists():
        raise SpecError(f"no such file '{source}'", hint="give a Hugging Face config.json, or a folder holding one")
    text = read_text(path, "config")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(f"not a JSON config: {err.msg}", file=str(path), line=err.lineno, column=err.colno,
                        hint="a Hugging Face config.json is one JSON object: {\"model_type\": \"llama\", ...}") from None
    except RecursionError:
        raise SpecError("not a config: nested too deeply", file=str(path), hint="a config.json is flat") from None
    if not isinstance(data, dict):
        raise SpecError(f"not a config: the JSON is a {type(data).__name__}, not an object", file=str(path), line=1,
                        hint="a Hugging Face config.json is one JSON object: {\"model_type\": \"llama\", ...}")
    return Config(data, file=str(path), text=text)


def family(config):
    key = "model_type"
    value = config.data.get(key)
    if value is None:
        raise config.error(None, "missing key 'model_type': archcalc reads it to know the architecture",
                           hint=f'add "model_type": one of {", ".join(FAMILIES)}')
    if value not in FAMILIES:
        from ..layers.base import did_you_mean
        hint = did_you_mean(value, FAMILIES) if isinstance(value, str) else None
        raise config.error(key, f"model_type {value!r} is not a family from-hf knows",
                           hint=(hint + "; " if hint else "") + f"from-hf reads {', '.join(FAMILIES)}")
    return value


def from_hf(source, *, tokens=None, name=None):
    """The spec (a dict that analyze, load_spec and every command take) of the model a Hugging Face config
    describes. `source`: a config.json path, a folder holding one, or the config as a dict. `tokens`: the
    input length (default: the config's maximum positions)."""
    return _build(source, tokens=tokens, name=name)[0]


def from_hf_yaml(source, *, tokens=None, name=None):
    """The same spec as YAML text, with a header saying what it is and what it does not count."""
    spec, notes, comments = _build(source, tokens=tokens, name=name)
    text = to_yaml(spec, notes, comments)
    from ..spec.graph import build_graph
    from ..spec.yamlio import load_yaml
    try:                    # what is written must be a spec archcalc reads, exactly as written
        build_graph(load_yaml(text, file="from-hf"), file="from-hf")
    except SpecError as err:
        raise SpecError(f"the spec this config gives does not load: {err}", file=read_config(source).file,
                        hint="a combination of sizes archcalc cannot lay out; please report it") from None
    return text


def _build(source, *, tokens, name):
    config = read_config(source)
    kind = family(config)
    (spec, comments), notes = BUILDERS[kind](config, tokens)
    spec = {"name": name or _name(config, source, kind), **spec}
    return spec, notes, comments


def _name(config, source, kind):
    named = config.data.get("_name_or_path")
    if isinstance(named, str) and named.strip():
        return named.strip().rstrip("/").rsplit("/", 1)[-1]
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return path.resolve().name or kind
        if path.name == CONFIG_NAME:
            return path.resolve().parent.name or kind
        return path.stem
    return kind


def _tokens(config, tokens, positions, learned):
    if tokens is None:
        return positions
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_SIZE:
        raise SpecError(f"tokens must be a whole number from 1 to {MAX_SIZE:,}, got {tokens!r}",
                        hint="e.g. --tokens 2048")
    if learned and tokens > positions:
        raise SpecError(f"{tokens:,} tokens are more than the {positions:,} learned positions this config has",
                        file=config.file, hint=f"--tokens {positions} or fewer")
    return tokens


def _heads(config, family_name, hidden, heads_key, kv_default=None, head_dim_default=None):
    heads = config.size(heads_key, family=family_name)
    kv_key = "num_key_value_heads"
    kv = config.size(kv_key, default=kv_default or heads)
    head_dim = config.size("head_dim", default=head_dim_default)
    if head_dim is None:
        if hidden % heads:
            raise config.error(config.first(heads_key), f"hidden size {hidden:,} does not split into {heads} heads",
                               hint="give head_dim, or heads dividing the hidden size")
        head_dim = hidden // heads
    if heads % kv:
        raise config.error(kv_key, f"{heads} attention heads do not share {kv} key/value heads evenly",
                           hint=f"{kv_key} must divide num_attention_heads (1 = multi-query)")
    return heads, kv, head_dim


def _chain(entries):
    """Drop the entries that compute nothing (dropouts of rate 0: each type's is_no_op), rewiring whatever
    read from them to what they read."""
    kept, renamed = [], {}
    for entry in entries:
        (type_name, options), = entry.items()
        options = dict(options)
        if "from" in options:
            sources = options["from"]
            options["from"] = ([renamed.get(s, s) for s in sources] if isinstance(sources, list)
                               else renamed.get(sources, sources))
        cls = lookup(type_name)          # None for a block the spec defines (bert_layer)
        if cls is not None and cls.is_no_op(options):
            renamed[options["name"]] = kept[-1][next(iter(kept[-1]))]["name"] if kept else "input"
            continue
        kept.append({type_name: options})
    return kept


def _gpt2(config, tokens):
    f = "gpt2"
    config.refuse("add_cross_attention", None, "cross-attention blocks are not in this spec")
    d = config.size(("n_embd", "hidden_size"), family=f)
    layers = config.size(("n_layer", "num_hidden_layers"), maximum=MAX_LAYERS, family=f)
    heads, _, head_dim = _heads(config, f, d, ("n_head", "num_attention_heads"))
    vocab = config.size("vocab_size", family=f)
    positions = config.size(("n_positions", "max_position_embeddings"), default=1024)
    inner = config.size("n_inner", default=4 * d)
    act, act_options = config.activation("activation_function", "gelu_new")
    eps = config.eps("layer_norm_epsilon", 1e-5)
    resid, embd, attn = (config.rate(k, 0.1) for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop"))
    tie = config.flag("tie_word_embeddings", True)
    n = _tokens(config, tokens, positions, learned=True)
    ln = {"eps": eps} if eps != 1e-5 else {}
    block = _chain([
        {"layernorm": {"name": "ln_1", **ln}},
        {"attention": {"name": "attn", "heads": heads, "causal": True, **({"dropout": attn} if attn else {})}},
        {"dropout": {"name": "resid_drop_1", "rate": resid}},
        {"add": {"name": "residual_1", "from": ["resid_drop_1", "input"]}},
        {"layernorm": {"name": "ln_2", **ln}},
        {"dense": {"name": "c_fc", "units": inner}},
        {act: {"name": "act", **act_options}},
        {"dense": {"name": "c_proj", "units": d}},
        {"dropout": {"name": "resid_drop_2", "rate": resid}},
        {"add": {"name": "residual_2", "from": ["resid_drop_2", "residual_1"]}},
    ])
    top = _chain([
        {"embedding": {"name": "wte", "vocabulary": vocab, "dimension": d}},
        {"position_embedding": {"name": "wpe", "length": positions}},
        {"dropout": {"name": "drop", "rate": embd}},
        {"block": {"name": "h", "repeat": layers}},
        {"layernorm": {"name": "ln_f", **ln}},
        {"dense": {"name": "lm_head", "units": vocab, "bias": False, **({"tie": "wte"} if tie else {})}},
    ])
    notes = [f"GPT2LMHeadModel: {layers} blocks of width {d}, {heads} heads of {head_dim}, MLP {inner}, "
             f"vocabulary {vocab:,}, {positions:,} positions; the LM head "
             + ("tied to wte (counted once)." if tie else "untied."),
             f"Input: {n:,} tokens (--tokens, or summarize --input N)."]
    return _spec(f"GPT-2 family language model, {layers} blocks of width {d}", "GPT2LMHeadModel", n,
                 {"block": (block, f"h.0 ... h.{layers - 1}: x + attn(ln_1(x)), then x + mlp(ln_2(x))")},
                 top), notes


def _bert(config, tokens):
    f = "bert"
    config.refuse("add_cross_attention", None, "cross-attention layers are not in this spec")
    config.refuse("position_embedding_type", ("relative_key", "relative_key_query"),
                  "relative position embeddings are not in this spec (only absolute)")
    d = config.size("hidden_size", family=f)
    layers = config.size("num_hidden_layers", maximum=MAX_LAYERS, family=f)
    heads, _, head_dim = _heads(config, f, d, "num_attention_heads")
    vocab = config.size("vocab_size", family=f)
    inner = config.size("intermediate_size", family=f)
    positions = config.size("max_position_embeddings", default=512)
    types = config.size("type_vocab_size", default=2)
    act, act_options = config.activation("hidden_act", "gelu")
    eps = config.eps("layer_norm_eps", 1e-12)
    hidden_drop, attn_drop = config.rate("hidden_dropout_prob", 0.1), config.rate("attention_probs_dropout_prob", 0.1)
    causal = config.flag("is_decoder", False)
    n = _tokens(config, tokens, positions, learned=True)
    ln = {"eps": eps} if eps != 1e-5 else {}
    layer = _chain([
        {"attention": {"name": "attention", "heads": heads, **({"causal": True} if causal else {}),
                       **({"dropout": attn_drop} if attn_drop else {})}},
        {"dropout": {"name": "attention_drop", "rate": hidden_drop}},
        {"add": {"name": "attention_residual", "from": ["attention_drop", "input"]}},
        {"layernorm": {"name": "attention_norm", **ln}},
        {"dense": {"name": "intermediate", "units": inner}},
        {act: {"name": "intermediate_act", **act_options}},
        {"dense": {"name": "output", "units": d}},
        {"dropout": {"name": "output_drop", "rate": hidden_drop}},
        {"add": {"name": "output_residual", "from": ["output_drop", "attention_norm"]}},
        {"layernorm": {"name": "output_norm", **ln}},
    ])
    top = _chain([
        {"embedding": {"name": "word_embeddings", "vocabulary": vocab, "dimension": d}},
        {"token_type_embedding": {"name": "token_type_embeddings", "types": types, "id_buffer": positions}},
        {"position_embedding": {"name": "position_embeddings", "length": positions, "id_buffer": positions}},
        {"layernorm": {"name": "embeddings_norm", **ln}},
        {"dropout": {"name": "embeddings_drop", "rate": hidden_drop}},
        {"bert_layer": {"name": "encoder", "repeat": layers}},
        {"select": {"name": "first_token", "axis": 0, "index": 0}},
        {"dense": {"name": "pooler", "units": d, "activation": "tanh"}},
    ])
    notes = [f"BertModel (encoder and pooler, as AutoModel builds it; no masked-LM head): {layers} post-norm "
             f"layers of width {d}, {heads} heads of {head_dim}, feed-forward {inner}, vocabulary {vocab:,}, "
             f"{positions:,} positions, {types} token types (one segment used).",
             f"Input: {n:,} tokens (--tokens, or summarize --input N). Output: the pooler's ({d},) vector."]
    return _spec(f"BERT family encoder with pooler, {layers} layers of width {d}", "BertModel", n,
                 {"bert_layer": (layer, f"encoder.layer.0 ... {layers - 1}: LayerNorm(x + attention(x)), "
                                        "LayerNorm(x + FFN(x))")}, top), notes


# transformers' defaults per family, where a config.json leaves a key out
_DECODERS = {
    #          class             kv heads  head_dim  tie    positions  activation          window key
    "llama": ("LlamaForCausalLM", None, None, False, 2048, "silu", None),
    "mistral": ("MistralForCausalLM", 8, None, False, 4096 * 32, "silu", "sliding_window"),
    "qwen2": ("Qwen2ForCausalLM", 32, None, False, 32768, "silu", "use_sliding_window"),
    "gemma": ("GemmaForCausalLM", 16, 256, True, 8192, "gelu_pytorch_tanh", None),
}


def _decoder(config, tokens, f):
    cls, kv_default, head_dim_default, tie_default, positions_default, act_default, window_key = _DECODERS[f]
    d = config.size("hidden_size", family=f)
    layers = config.size("num_hidden_layers", maximum=MAX_LAYERS, family=f)
    heads, kv, head_dim = _heads(config, f, d, "num_attention_heads", kv_default, head_dim_default)
    vocab = config.size("vocab_size", family=f)
    inner = config.size("intermediate_size", family=f)
    positions = config.size("max_position_embeddings", default=positions_default)
    # Gemma's legacy "gelu" means the tanh form (GemmaConfig rewrites it so)
    act, act_options = config.activation("hidden_act", act_default,
                                         {"gelu": "gelu_pytorch_tanh"} if f == "gemma" else None)
    eps = config.eps("rms_norm_eps", 1e-6)
    tie = config.flag("tie_word_embeddings", tie_default)
    qkv_bias = {"llama": None, "mistral": False, "qwen2": True, "gemma": None}[f]
    attention_bias = config.flag("attention_bias", False) if qkv_bias is None else qkv_bias
    out_bias = attention_bias if f in ("llama", "gemma") else False
    mlp_bias = config.flag("mlp_bias", False) if f == "llama" else False
    dropout = config.rate("attention_dropout", 0.0)
    causal = not config.flag("use_bidirectional_attention", False) if f == "gemma" else True
    n = _tokens(config, tokens, positions, learned=False)
    norm = {"eps": eps}
    attention = {"name": "self_attn", "heads": heads, "kv_heads": kv, "head_dim": head_dim, "bias": attention_bias,
                 **({"out_bias": out_bias} if out_bias != attention_bias else {}),
                 **({"causal": True} if causal else {}), **({"dropout": dropout} if dropout else {})}
    bias = {} if mlp_bias else {"bias": False}
    block = [
        {"rmsnorm": {"name": "input_layernorm", **norm}},
        {"attention": attention},
        {"add": {"name": "attn_residual", "from": ["self_attn", "input"]}},
        {"rmsnorm": {"name": "post_attention_layernorm", **norm}},
        {"dense": {"name": "gate_proj", "units": inner, **bias}},
        {act: {"name": "act_fn", **act_options}},
        {"dense": {"name": "up_proj", "from": "post_attention_layernorm", "units": inner, **bias}},
        {"multiply": {"name": "gated", "from": ["act_fn", "up_proj"]}},
        {"dense": {"name": "down_proj", "units": d, **bias}},
        {"add": {"name": "mlp_residual", "from": ["down_proj", "attn_residual"]}},
    ]
    top = [
        {"embedding": {"name": "embed_tokens", "vocabulary": vocab, "dimension": d}},
        {"decoder_layer": {"name": "layers", "repeat": layers}},
        {"rmsnorm": {"name": "norm", **norm}},
        {"dense": {"name": "lm_head", "units": vocab, "bias": False, **({"tie": "embed_tokens"} if tie else {})}},
    ]
    biases = ("q, k and v biases, none on o_proj" if attention_bias and not out_bias
              else "biased projections" if attention_bias else "no attention biases")
    notes = [f"{cls}: {layers} decoder layers of width {d}; {heads} query heads and {kv} key/value heads of "
             f"{head_dim} ({biases}); MLP {inner} ({act}{' tanh' if act_options else ''} gate); vocabulary "
             f"{vocab:,}; lm_head " + ("tied to embed_tokens (counted once)." if tie else "untied."),
             f"Input: {n:,} tokens (max_position_embeddings {positions:,}; --tokens, or summarize --input N).",
             "Rotary position embedding rotates q and k inside self_attn: no parameters; its element-wise "
             "arithmetic (3 FLOPs per element of q and k) is not in the FLOPs here, and FlopCounterMode counts "
             "none of it either."]
    window = None
    if window_key == "sliding_window":
        window = config.size("sliding_window", default=4096)
    elif window_key == "use_sliding_window" and config.flag("use_sliding_window", False):
        window = config.size("sliding_window", default=4096)
    if window is not None:
        notes.append(f"sliding_window {window:,}: parameters do not depend on it; FLOPs count every query "
                     f"against every earlier key, as eager attention and SDPA's math path compute it (the window "
                     f"is a mask)" + (f" — the same here, since {n:,} tokens fit in the window." if n <= window else
                                      f". A kernel that skips masked blocks does at most {window:,} keys per query."))
    if f == "gemma":
        notes.append(f"The embeddings are scaled by √{d} (one multiply per element, not counted); RMSNorm "
                     f"weights are applied as (1 + w): the same {d} parameters each.")
    description = f"{f.capitalize()} family causal language model, {layers} layers of width {d}"
    return _spec(description, cls, n,
                 {"decoder_layer": (block, f"model.layers.0 ... {layers - 1}: x + self_attn(norm(x)), "
                                           "then x + mlp(norm(x))")}, top), notes


def _spec(description, cls, tokens, blocks, layers):
    return {"description": description, "source": f"Hugging Face config via archcalc from-hf (transformers {cls})",
            "input": {"shape": [tokens], "dtype": "int64"},
            "blocks": {name: {"layers": entries} for name, (entries, _) in blocks.items()},
            "layers": layers}, {name: comment for name, (_, comment) in blocks.items()}


BUILDERS = {"gpt2": _gpt2, "bert": _bert, **{f: (lambda c, t, f=f: _decoder(c, t, f)) for f in _DECODERS}}


def to_yaml(spec, notes=(), comments=None):
    """The spec as YAML in the zoo's style: a header of notes, one flow-style line per layer."""
    import yaml

    def flow(value):
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
        return text.replace("\n...\n", "").strip()

    comments = comments or {}
    import textwrap
    lines = ["# Written by archcalc from-hf"] + [f"# {line}" for note in notes for line in textwrap.wrap(note, 106)]
    for key in ("name", "description", "source", "input"):
        lines.append(f"{key}: {flow(spec[key])}")
    if spec.get("blocks"):
        lines.append("blocks:")
        for block, body in spec["blocks"].items():
            comment = comments.get(block)
            lines.append(f"  {block}:" + (f"{' ' * max(1, 33 - len(block) - 3)}# {comment}" if comment else ""))
            lines.append("    layers:")
            lines += [f"      - {flow(entry)[1:-1]}" for entry in body["layers"]]
    lines.append("layers:")
    lines += [f"  - {flow(entry)[1:-1]}" for entry in spec["layers"]]
    return "\n".join(lines) + "\n"
