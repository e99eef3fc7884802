"""Recurrent layers (rnn, lstm, gru) against real nn.RNN / nn.LSTM / nn.GRU: parameter tensors,
output shapes, FlopCounterMode on each path torch takes, saved-for-backward bytes, the counting tools,
from-torch, export-torch; expected numbers worked out by hand where they are stated."""
import itertools
from pathlib import Path

import pytest

import archcalc
from archcalc.errors import SpecError

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from archcalc.bridges.from_torch import from_torch  # noqa: E402
from archcalc.bridges.verify import verify  # noqa: E402
from conftest import ROOT, run_cli  # noqa: E402

TORCH_CLASS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def spec_of(kind, features=3, tokens=5, **options):
    return {"name": kind, "input": [tokens, features], "layers": [{kind: {"hidden": 4, **options}}]}


def real(kind, features=3, hidden=4, **options):
    """The torch module archcalc's options stand for, built by hand."""
    options.pop("return", None)
    return TORCH_CLASS[kind](features, hidden, batch_first=True, **options)


# Every combination of stacking, direction, bias and (lstm) projection: 3·2·2 per type, +12 lstm with proj.
GRID = [(kind, dict(num_layers=layers, bidirectional=bi, bias=bias, **({"proj_size": 2} if proj else {})))
        for kind, layers, bi, bias, proj in itertools.product(("rnn", "lstm", "gru"), (1, 2, 3), (False, True),
                                                                (True, False), (False, True))
        if not proj or kind == "lstm"]


@pytest.mark.parametrize("kind,options", GRID, ids=[f"{k}-{o}" for k, o in GRID])
def test_parameter_tensors_are_torchs_one_by_one(kind, options):
    layer = archcalc.load_spec(spec_of(kind, **options)).nodes[0].layer
    module = real(kind, **options)
    assert list(layer.param_tensors([(5, 3)])) == [p.numel() for p in module.parameters()]
    assert archcalc.analyze(spec_of(kind, **options)).totals.params == sum(p.numel() for p in module.parameters())


def test_lstm_parameters_by_hand():
    # layer 0: 4·20·(10 + 20) + 2·4·20 = 2,400 + 160 = 2,560; layer 1 reads 20: 4·20·(20 + 20) + 160 = 3,360
    report = archcalc.analyze({"input": [7, 10], "layers": [{"lstm": {"hidden": 20, "num_layers": 2}}]})
    assert report.totals.params == 2_560 + 3_360
    # bidirectional, projection 5: layer 0 per direction 4·20·(10 + 5) + 160 + 20·5 = 1,200 + 160 + 100 = 1,460;
    # layer 1 reads 2·5 = 10: 4·20·(10 + 5) + 160 + 100 = 1,460; ×2 directions ×2 layers = 5,840
    report = archcalc.analyze({"input": [7, 10], "layers": [
        {"lstm": {"hidden": 20, "num_layers": 2, "bidirectional": True, "proj_size": 5}}]})
    assert report.totals.params == 5_840
    assert report.layers[0].output_shape == (7, 10)          # (tokens, P·directions)


def test_gru_and_rnn_by_hand():
    # gru: 3·8·(6 + 8) + 2·3·8 = 336 + 48 = 384; MACs per step 3·8·(6 + 8) = 336, over 10 tokens 3,360
    # FLOPs: 2·3,360 + 10·(3·8 sum + 2·3·8 biases + 7·8 gate arithmetic) = 6,720 + 10·128 = 8,000
    gru = archcalc.analyze({"input": [10, 6], "layers": [{"gru": 8}]}).layers[0]
    assert (gru.params, gru.macs, gru.flops) == (384, 3_360, 8_000)
    # rnn without bias: 8·(6 + 8) = 112 params and MACs per step; FLOPs 2·1,120 + 10·(8 sum + 8 tanh) = 2,400
    rnn = archcalc.analyze({"input": [10, 6], "layers": [{"rnn": {"hidden": 8, "bias": False}}]}).layers[0]
    assert (rnn.params, rnn.macs, rnn.flops) == (112, 1_120, 2_400)
    # lstm: FLOPs per step and unit beyond the products: 4 sum + 8 biases + 9 gate arithmetic = 21
    lstm = archcalc.analyze({"input": [10, 6], "layers": [{"lstm": 8}]}).layers[0]
    assert lstm.macs == 10 * 4 * 8 * (6 + 8) == 4_480
    assert lstm.flops == 2 * 4_480 + 10 * 21 * 8


@pytest.mark.parametrize("kind,options", [("lstm", {"num_layers": 2, "bidirectional": True}),
                                          ("lstm", {"proj_size": 2, "return": "last"}),
                                          ("gru", {"bidirectional": True, "return": "last"}),
                                          ("rnn", {"nonlinearity": "relu", "num_layers": 3}),
                                          ("lstm", {"num_layers": 2, "bidirectional": True, "proj_size": 2,
                                                    "return": "final"}),
                                          ("gru", {"bidirectional": True, "return": "final"})])
def test_output_shape_is_the_real_modules(kind, options):
    spec = spec_of(kind, **options)
    report = archcalc.analyze(spec)
    module = real(kind, **options)
    with torch.no_grad():
        out, state = module(torch.zeros(2, 5, 3))
    h_n = state[0] if kind == "lstm" else state            # (layers·directions, N, H_r)
    directions = 2 if options.get("bidirectional") else 1
    expected = {"last": tuple(out[:, -1].shape[1:]), "final": (directions * h_n.shape[-1],)}.get(
        options.get("return"), tuple(out.shape[1:]))
    assert report.layers[0].output_shape == expected
    with torch.no_grad():
        assert tuple(archcalc.to_torch(spec)(torch.zeros(2, 5, 3)).shape[1:]) == expected


def counted(module, x):
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


def test_what_flopcountermode_counts_on_each_path():
    """F = 3, H = 4, 5 tokens, batch 2: 2·N·T·G·H·(F + H) = 2·2·5·16·7 = 2,240 for the lstm."""
    predicted = archcalc.analyze(spec_of("lstm"), batch=2, convention="torch").totals.flops
    assert predicted == 2_240
    lstm = real("lstm")
    x = torch.randn(2, 5, 3)
    assert counted(lstm, x) == 0                              # oneDNN's fused CPU kernel: no flop formula
    with torch.backends.mkldnn.flags(enabled=False):
        assert counted(lstm, x) == 2_240                      # the decomposed path: aten.mm / addmm
    with torch.device("meta"):
        assert counted(real("lstm"), torch.randn(2, 5, 3)) == 2_240
    # gru and rnn are never fused on CPU: 2·2·5·12·7 = 1,680 and 2·2·5·4·7 = 560
    assert counted(real("gru"), x) == archcalc.analyze(spec_of("gru"), batch=2, convention="torch").totals.flops == 1_680
    assert counted(real("rnn"), x) == archcalc.analyze(spec_of("rnn"), batch=2, convention="torch").totals.flops == 560
    # with proj_size torch takes its default path on CPU even with oneDNN on, and counts W_hr too:
    # 2·2·5·(16·(3 + 2) + 4·2) = 20·88 = 1,760
    assert counted(real("lstm", proj_size=2), x) == 1_760
    assert archcalc.analyze(spec_of("lstm", proj_size=2), batch=2, convention="torch").totals.flops == 1_760


VERIFY_GRID = [(kind, dict(num_layers=layers, bidirectional=bi, **extra))
               for kind, layers, bi, extra in itertools.product(
                   ("rnn", "lstm", "gru"), (1, 2), (False, True),
                   ({}, {"bias": False, "return": "last"}, {"dropout": 0.3}))
               if layers == 2 or "dropout" not in extra] + [("lstm", {"proj_size": 2, "num_layers": 2}),
                                                            ("lstm", {"proj_size": 2, "bidirectional": True,
                                                                      "return": "final"}),
                                                            ("gru", {"num_layers": 2, "bidirectional": True,
                                                                     "return": "final"})]


@pytest.mark.parametrize("kind,options", VERIFY_GRID, ids=[f"{k}-{o}" for k, o in VERIFY_GRID])
def test_verify_agrees_with_real_torch_on_every_quantity(kind, options):
    """Shapes, parameters, forward and backward FlopCounterMode FLOPs and saved bytes, at batch 1 (the layer
    input is kept as a view) and 2 (a copy per direction)."""
    for batch in (1, 2):
        result = verify(spec_of(kind, **options), batch=batch, train=True)
        assert result.ok, [(layer.name, layer.checks) for layer in result.layers if not layer.ok]


def test_saved_bytes_by_hand():
    # gru, F = 3, H = 4, 3 tokens, batch 2: the layer input transposed to (T·N, F) is a copy, 3·2·3 = 18
    # elements; per step the gru keeps h_{t−1}, its 3H hidden gates and three H tensors: 7·4 = 28 per
    # sample and step, 28·3·2 = 168. (18 + 168)·4 bytes = 744
    spec = spec_of("gru", tokens=3)
    assert archcalc.analyze(spec, batch=2).totals.saved_bytes == 744
    result = verify(spec, batch=2)
    assert result.totals["saved_bytes"] == (744, 744)
    # rnn keeps h_0 and each h_t once (the next step's product reads the activation's output):
    # at batch 1 the (T·N, F) matrix is a view of the spec's input: (3·3 + 4 + 3·4)·4 = 100 bytes
    assert archcalc.analyze(spec_of("rnn", tokens=3), batch=1).totals.saved_bytes == 100
    assert verify(spec_of("rnn", tokens=3)).totals["saved_bytes"] == (100, 100)


def test_frozen_layer_after_a_trained_one_keeps_no_inputs():
    spec = {"input": [4, 3], "layers": [{"gru": {"hidden": 5}}, {"lstm": {"hidden": 3, "trainable": False}},
                                        {"rnn": {"hidden": 2, "return": "last"}}]}
    # the frozen lstm keeps only its gates and cell tensors: 6·H per step, 6·3·4 tokens = 72 elements
    assert archcalc.analyze(spec).layers[1].saved_bytes == 72 * 4
    result = verify(spec, batch=2, train=True)
    assert result.ok, [(layer.name, layer.checks) for layer in result.layers if not layer.ok]


def test_verify_says_which_path_it_measured():
    result = verify(spec_of("lstm"))
    assert result.ok
    assert any("oneDNN off" in line and "mkldnn.flags(enabled=False)" in line for line in result.compared)
    assert not any("oneDNN" in line for line in verify(spec_of("gru")).compared)
    meta = verify(spec_of("lstm", num_layers=2), meta=True)
    assert meta.ok and meta.totals["flops"][1] > 0 and not any("oneDNN" in line for line in meta.compared)


TOOL_SPECS = [("rnn", {"num_layers": 2, "bidirectional": True, "bias": False}),
              ("lstm", {"num_layers": 2, "bidirectional": True, "proj_size": 2}),
              ("gru", {"num_layers": 2})]


@pytest.mark.parametrize("tool", ["thop", "ptflops", "fvcore", "torchinfo", "torch"])
@pytest.mark.parametrize("kind,options", TOOL_SPECS, ids=[k for k, _ in TOOL_SPECS])
def test_each_convention_is_what_the_real_tool_counts(tool, kind, options):
    from test_conventions import measure
    spec = spec_of(kind, **options)
    for batch in (1, 2):
        assert archcalc.analyze(spec, batch=batch, convention=tool).totals.flops == measure(tool, spec, batch)


def test_thop_by_hand():
    # thop's lstm cell, F = 3, H = 4: 4·(4·(3 + 4) + 4 + 2·4) + 3·4 + 4 = 4·40 + 16 = 176 per step; 5 steps
    assert archcalc.analyze(spec_of("lstm"), convention="thop").totals.flops == 176 * 5


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True, dropout=0.1)
        self.gru = nn.GRU(16, 5, batch_first=True, bias=False)

    def forward(self, x):
        out, _ = self.lstm(x)
        y, _ = self.gru(out)
        return y


def test_from_torch_reads_the_output_element_of_the_tuple():
    model = Tagger()
    spec = from_torch(model, [9, 6])
    assert spec["layers"] == [
        {"lstm": {"name": "lstm", "hidden": 8, "num_layers": 2, "bidirectional": True, "dropout": 0.1}},
        {"gru": {"name": "gru", "hidden": 5, "bias": False}}]
    report = archcalc.analyze(spec, convention="torch")
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    with torch.device("meta"):
        measured = counted(Tagger(), torch.randn(1, 9, 6))
    assert report.totals.flops == measured


def test_from_torch_refuses_the_final_state_and_sequence_first():
    class LastState(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(6, 4, batch_first=True)

        def forward(self, x):
            _, h = self.gru(x)
            return h

    with pytest.raises(SpecError, match=r"element 1 of what torch.nn.GRU returns; archcalc's gru is element 0"):
        from_torch(LastState(), [9, 6])
    with pytest.raises(SpecError, match=r"LSTM\(batch_first=False\)"):
        from_torch(nn.Sequential(nn.LSTM(6, 4)), [9, 6])


def test_export_torch_runs_and_matches(write_spec):
    path = write_spec("""name: tagger
input: [9, 6]
layers:
  - lstm: {name: enc, hidden: 8, num_layers: 2, bidirectional: true, proj_size: 3}
  - gru: {name: dec, hidden: 4, return: last}
""")
    proc = run_cli("export-torch", path)
    assert proc.returncode == 0, proc.stderr
    namespace = {"__name__": "exported"}
    exec(compile(proc.stdout, "exported.py", "exec"), namespace)
    model = [v for v in namespace.values() if isinstance(v, type) and v.__module__ == "exported"][-1]()
    assert model(torch.randn(2, 9, 6)).shape == (2, 4)
    assert sum(p.numel() for p in model.parameters()) == archcalc.analyze(str(path)).totals.params


@pytest.mark.parametrize("layers,message", [
    ([{"lstm": 4}], "lstm needs a sequence (tokens, features), got shape (3, 8, 8)"),
    ([{"lstm": {"hidden": 4, "proj_size": 4}}], "lstm proj_size 4 must be smaller than hidden 4"),
    ([{"gru": {"hidden": 4, "return": "first"}}], "expected one of sequence, last, final"),
])
def test_bad_options_are_one_clear_message(write_spec, layers, message):
    import yaml
    spec = {"name": "bad", "input": [3, 8, 8] if "needs a sequence" in message else [5, 3], "layers": layers}
    path = write_spec(yaml.safe_dump(spec))
    proc = run_cli("summarize", path)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


LM = ROOT / "specs" / "lstm_lm.yaml"


def test_lstm_language_model_body_against_nn_lstm():
    """The word_language_model's 2-layer LSTM (650 → 650, dropout 0.5 between layers) on the 35 embedded
    tokens: 4·650·(650 + 650) + 2·4·650 = 3,385,200 per layer, 6,770,400 in all, as nn.LSTM counts."""
    import yaml
    spec = yaml.safe_load(LM.read_text())
    body = {"name": "lstm_lm_body", "input": [35, 650], "layers": spec["layers"][1:4]}
    assert [next(iter(e)) for e in body["layers"]] == ["dropout", "lstm", "dropout"]
    lstm = nn.LSTM(650, 650, 2, dropout=0.5)
    report = archcalc.analyze(body)
    assert report.totals.params == sum(p.numel() for p in lstm.parameters()) == 6_770_400
    # MACs: 35 tokens · 2 layers · 4·650·1,300 = 236,600,000
    assert report.totals.macs == 236_600_000
    result = verify(body)
    assert result.ok, [(layer.name, layer.checks) for layer in result.layers if not layer.ok]


def test_lstm_language_model_whole_spec():
    """The whole model: 33,278·650 + 6,770,400 + (650 + 1)·33,278 = 50,065,078 parameters, as the example's
    RNNModel (rebuilt here from its layers) has."""
    report = archcalc.analyze(str(LM))
    model = nn.ModuleList([nn.Embedding(33278, 650), nn.LSTM(650, 650, 2, dropout=0.5), nn.Linear(650, 33278)])
    assert report.totals.params == sum(p.numel() for p in model.parameters()) == 50_065_078
    assert report.layers[-1].output_shape == (35, 33278)
    assert verify(str(LM)).ok


def test_docs_page_exists_and_names_the_paths():
    text = (ROOT / "docs" / "recurrent.md").read_text()
    for phrase in ("oneDNN", "cuDNN", "meta", "saved_tensors_hooks", "torch_counted_path", "return: last"):
        assert phrase in text, phrase
    assert Path(ROOT / "README.md").read_text().count("docs/recurrent.md") >= 1


def test_dropout_on_a_single_layer_is_a_warning():
    report = archcalc.analyze(spec_of("lstm", dropout=0.2))
    assert [w["message"][:24] for w in report.warnings] == ["dropout 0.2 does nothing"]
    assert not archcalc.analyze(spec_of("lstm", dropout=0.2, num_layers=2)).warnings
