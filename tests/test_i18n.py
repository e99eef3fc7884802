"""archcalc in Korean (issue 16, part 1): --lang and the locale choose the language, the homework commands
speak Korean on the course's classic exercises with no English sentence left, the shipped catalog is
compiled from its .po and holds every message the code marks, and a language is one catalog dropped in."""
import io
import re
import shutil

import pytest

from archcalc import i18n
from conftest import ROOT, cli, run_cli

babel = pytest.importorskip("babel")
from babel.messages import mofile, pofile  # noqa: E402
from babel.messages.extract import extract_from_dir  # noqa: E402

CATALOG = ROOT / "archcalc" / "locale" / "ko" / "LC_MESSAGES" / "archcalc.po"
COMPILED = CATALOG.with_suffix(".mo")
CLASSIC = ("lenet5", "alexnet", "vgg16", "mnist_fc", "mnist_cnn")

# Answers as a student writes them, some wrong so that every kind of diagnosis is printed; the right
# values, by hand:
#   mnist_fc  fc1 (784 + 1)·512 = 401,920 (784·512 = 401,408 leaves the bias out); fc2 (512 + 1)·10 = 5,130
#   lenet5    conv1 (32 − 5)/1 + 1 = 28 -> 6×28×28, (5·5·1 + 1)·6 = 156; fc1 (400 + 1)·120 = 48,120
#             (400·120 = 48,000 leaves the bias out); 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706
#   alexnet   conv1 (11·11·3 + 1)·96 = 34,944 (34,848 without bias); conv2 (27 − 5 + 2·2)/1 + 1 = 27
#             (23 with the padding forgotten); pool1 (55 − 3)/2 + 1 = 27 (53 with the stride ignored)
#   vgg16     fc6 (25,088 + 1)·4,096 = 102,764,544 (102.7M rounded down); fc7 (4,096 + 1)·4,096 =
#             16,781,312 (16M = 4,096·4,096 = 16,777,216 in binary prefixes)
#   mnist_cnn conv biases 32 + 64 + 64 = 160 left out of 93,322: 93,162; pool2 (11 − 2)/2 + 1 = 5.5 -> 5
#             (6 rounded up)
ANSWERS = {
    "mnist_fc": "layers:\n  fc1: {params: 401408}\n  fc2: {params: 5130}\ntotals: {params: 407050}\n",
    "lenet5": "layers:\n  conv1: {output_shape: 6x28x28, params: 156}\n  fc1: {params: 48000}\n"
              "totals: {params: 61706}\n",
    "alexnet": "layers:\n  conv1: {params: 34848}\n  conv2: {output_shape: [23, 23, 256]}\n"
               "  pool1: {output_shape: 53x53x96}\ntotals: {params: 62.4M}\n",
    "vgg16": "layers:\n  fc6: {params: 102.7M}\n  fc7: {params: 16M}\n",
    "mnist_cnn": "layers:\n  conv1: {output_shape: [26, 26, 32], params: 320}\n  pool2: {output_shape: [6, 6, 64]}\n"
                 "totals: {params: 93162}\n",
}
CALCS = [
    ("conv", "--input", "227", "--kernel", "11", "--stride", "4", "--filters", "96", "--in-channels", "3"),
    ("conv", "--input", "224", "--kernel", "11", "--stride", "4", "--filters", "96", "--in-channels", "3"),
    ("conv", "--input", "27", "--kernel", "5", "--padding", "2", "--filters", "256", "--in-channels", "96"),
    ("pool", "--input", "55", "--kernel", "3", "--stride", "2", "--channels", "96"),
    ("dense", "--input", "9216", "--units", "4096"),
]

# Words an output line may hold in any language: units, symbols, tool and format names, the layer types
# (registry names) and the specs' own layer names (added per run).
SYMBOLS = {"MACs", "FLOPs", "KiB", "MiB", "GiB", "TiB", "PyTorch", "Keras", "torch", "torchinfo", "yaml", "fp32",
           "vs", "channels_first", "channels_last", "ceil_mode", "tie", "bias", "false", "true",
           "archcalc", "explain", "check", "calc", "compare", "summarize"}
WORD_RUN = re.compile(r"(?<![\w.'/-])[A-Za-z][A-Za-z'-]*(?: +[A-Za-z][A-Za-z'-]*)+(?![\w])")


def type_names():
    from archcalc.layers.registry import layer_types
    names = set()
    for cls in layer_types():
        names |= {cls.type_name, *getattr(cls, "aliases", ())}
    return names


def layer_names(spec):
    from archcalc import load_spec
    return {node.name for node in load_spec(spec).nodes}


def english_sentences(text, allowed):
    """Runs of two or more words in Latin letters, none of them allowed: an untranslated sentence."""
    found = []
    for line in text.splitlines():
        for run in WORD_RUN.findall(line):
            words = [w for w in run.split() if w not in allowed and w.lower() not in allowed]
            # an allowed word breaks the run: look for two unallowed words next to each other
            run_words = run.split()
            for a, b in zip(run_words, run_words[1:]):
                if a in words and b in words and (len(a) > 1 or a == "a") and (len(b) > 1 or b == "a"):
                    found.append(line.strip())
                    break
    return found


def homework_runs(tmp_path):
    """(command line, allowed words) for every homework command on the classic exercises."""
    runs = []
    for spec in CLASSIC:
        allowed = SYMBOLS | type_names() | layer_names(spec) | set(CLASSIC)
        answers = tmp_path / f"{spec}.yaml"
        answers.write_text(ANSWERS[spec], encoding="utf-8")
        runs += [(("explain", spec), allowed), (("explain", spec, "--format", "markdown"), allowed),
                 (("summarize", spec), allowed), (("summarize", spec, "--format", "markdown"), allowed),
                 (("check", spec, answers), allowed), (("check", spec, answers, "--format", "markdown"), allowed),
                 (("explain", spec, "--format", "html"), allowed), (("check", spec, answers, "--format", "html"), allowed)]
    everything = SYMBOLS | type_names() | set().union(*(layer_names(s) for s in CLASSIC)) | set(CLASSIC)
    runs += [(("compare", "mnist_fc", "mnist_cnn"), everything), (("compare", "lenet5", "alexnet", "vgg16"), everything),
             (("compare", "mnist_fc", "mnist_cnn", "--format", "html"), everything)]
    runs += [(("calc",) + args, everything) for args in CALCS]
    return runs


def test_homework_commands_leave_no_english_sentence_in_korean(tmp_path):
    untranslated = {}
    for args, allowed in homework_runs(tmp_path):
        result = cli(*args, "--lang", "ko")
        assert result.returncode in (0, 1), (args, result.stderr)
        assert re.search("[가-힣]", result.stdout), args          # it did speak Korean
        text = result.stdout + result.stderr
        if "html" in args:          # the page's words, without its markup, style, script and drawing
            import html
            text = re.sub(r"<(script|style|svg)\b.*?</\1>", "", text, flags=re.S)
            text = html.unescape(re.sub(r"<[^>]+>", "\n", text))
        left = english_sentences(text, allowed)
        if left:
            untranslated[" ".join(map(str, args[:2]))] = left
    assert not untranslated, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in untranslated.items())


def test_the_detector_finds_english():
    """The check above can fail: an English sentence is found, formulas and allowed names are not."""
    assert english_sentences("conv1  params left out here", {"conv1"}) == ["conv1  params left out here"]
    assert english_sentences("O = (N − F + 2P)/S + 1 = (32 − 5 + 2·0)/1 + 1 = 28", set()) == []
    assert english_sentences("conv1  conv2d  (6, 28, 28)  156  117.6K", {"conv1", "conv2d"}) == []
    assert english_sentences("fc1  파라미터 수 = (n_in + 1)·n_out", {"fc1"}) == []


def test_lang_option_anywhere_and_english_by_default():
    english = cli("explain", "lenet5", "--layer", "conv1")
    assert "worked arithmetic" in english.stdout and "출력" not in english.stdout
    after = cli("explain", "lenet5", "--layer", "conv1", "--lang", "ko").stdout
    before = cli("--lang", "ko", "explain", "lenet5", "--layer", "conv1").stdout
    assert after == before and "계산 과정" in after
    # (5·5·1 + 1)·6 = 156: the formula keeps its symbols in Korean
    assert "파라미터 수 = (F·F·C_in + 1)·K = (5·5·1 + 1)·6 = 156" in after
    assert "O = (N − F + 2P)/S + 1 = (32 − 5 + 2·0)/1 + 1 = 28" in after
    assert cli("explain", "lenet5", "--layer", "conv1").stdout == english.stdout   # --lang held for one run only


@pytest.mark.parametrize("environment,korean", [
    ({"LANG": "ko_KR.UTF-8"}, True),
    ({"LC_ALL": "ko_KR.UTF-8", "LANG": "en_US.UTF-8"}, True),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "ko_KR.UTF-8"}, False),       # LC_ALL wins, as in POSIX
    ({"LANG": "C.UTF-8"}, False),
    ({"LANG": "ko_KR.UTF-8", "ARCHCALC_LANG": "en"}, False),
    ({"LANG": "en_US.UTF-8", "ARCHCALC_LANG": "ko"}, True),
])
def test_the_locale_chooses_the_language(environment, korean):
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "ARCHCALC_LANG")}
    result = run_cli("explain", "lenet5", "--layer", "conv1", env={**env, **environment})
    assert result.returncode == 0
    assert ("계산 과정" in result.stdout) is korean


def test_errors_and_fixes_are_translated():
    result = cli("explain", "lenet5", "--layer", "conv9", "--lang", "ko")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("오류:") and "conv9" in result.stderr
    assert not english_sentences(result.stderr, {"conv1", "conv2", "lenet5"}), result.stderr
    assert cli("explain", "lenet5", "--lang", "xx").returncode == 2


# Mistakes students make, each a message and a fix that must come out in Korean, with no English sentence
MISTAKES = [
    ("spec", "name: t\ninput: [1, 28, 28]\nlayers:\n  - conv2d: {filters: 8, kernal: 3}\n"),     # unknown option
    ("spec", "name: t\ninput: [1, 28, 28]\nlayers:\n  - convv2d: {filters: 8, kernel: 3}\n"),    # unknown type
    ("spec", "name: t\ninput: [1, 28, 28]\nlayers:\n  - conv2d: {filters: 8, kernel: 3\n"),      # unclosed {
    ("spec", "name: t\ninput: [28, 28, 1]\nlayers:\n  - conv2d: {filters: 8, kernel: 3}\n"),     # layout
    ("spec", "name: t\ninput: [1, 28, 28]\nlayers:\n  - dense: 10\n"),                           # map into dense
    ("spec", "name: t\ninput: [1, 28, 28]\nlayers:\n  - conv2d: {filters: 8, kernel: 3, stride: 0}\n"),
    ("answers", "layers:\n  conv1: {parms: 34944}\n"),                                              # answer key
    ("answers", "layers:\n  conv9: {params: 34944}\n"),                                             # layer name
    ("answers", "layers:\n  conv1: {params: sixty}\n"),                                             # number
    ("answers", "totals: 62378344\n"),
]


@pytest.mark.parametrize("what,text", MISTAKES)
def test_mistakes_are_explained_in_korean(what, text, tmp_path):
    path = tmp_path / "mistake.yaml"
    path.write_text(text, encoding="utf-8")
    args = ("summarize", path) if what == "spec" else ("check", "alexnet", path)
    result = cli(*args, "--lang", "ko")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("오류:") and "고치는 법:" in result.stderr or what == "answers", result.stderr
    allowed = SYMBOLS | type_names() | layer_names("alexnet") | {"mistake.yaml", "t"}
    assert not english_sentences(result.stderr, allowed), result.stderr


def test_korean_tables_stay_aligned():
    """Korean headers take two columns a character: every line of the summary table is as wide on screen as
    its rule (the last column is right-aligned), and the writer is tabulate + wcwidth byte for byte."""
    from archcalc.report.grid import table, width
    out = cli("summarize", "lenet5", "--lang", "ko").stdout.splitlines()
    rule = next(i for i, line in enumerate(out) if line and set(line) <= {"-", " "})
    body = out[rule - 1:out.index("", rule)]
    assert re.search("[가-힣]", body[0]) and len(body) == 2 + 12          # header, rule, lenet5's 12 layers
    assert {width(line) for line in body} == {len(out[rule])}
    tabulate = pytest.importorskip("tabulate")
    pytest.importorskip("wcwidth")
    with i18n.using("ko"):
        headers = [i18n._(h) for h in ("Layer", "Type", "Output shape", "Params")]
    rows = [["conv1", "conv2d", "(6, 28, 28)", "156"], ["합성곱층", "완전연결층", "(120)", "48,120"]]
    align = ["left", "left", "left", "right"]
    assert table(rows, headers, "simple", align) == tabulate.tabulate(rows, headers, "simple", colalign=align,
                                                                      disable_numparse=True)


def test_api_language():
    import archcalc
    from archcalc.homework.explain import explain
    from archcalc.report.homework import explanation
    previous = archcalc.set_language("ko")
    try:
        assert "계산 과정" in explanation(explain("lenet5", layer="conv1"))
    finally:
        archcalc.set_language(previous)
    with i18n.using("en"):
        assert "worked arithmetic" in explanation(explain("lenet5", layer="conv1"))
    with pytest.raises(ValueError, match="no catalog"):
        archcalc.set_language("xx")


def tools_i18n():
    """tools/i18n.py, the catalogs' extract/compile script, as a module."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("tools_i18n", ROOT / "tools" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_catalog(path):
    with open(path, "rb") as handle:
        return pofile.read_po(handle)


def test_the_shipped_mo_is_the_po_compiled():
    """Babel compiles the .po to the very bytes shipped (run `python tools/i18n.py compile` after editing it)."""
    buffer = io.BytesIO()
    mofile.write_mo(buffer, read_catalog(CATALOG))
    assert COMPILED.read_bytes() == buffer.getvalue(), "run: python tools/i18n.py compile"


def test_every_marked_message_has_a_korean_translation():
    """What the code marks with _(), N_() or ngettext is in the Korean catalog, translated."""
    catalog = read_catalog(CATALOG)
    marked = {message if isinstance(message, str) else message[0]
              for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT / "archcalc"))}
    marked |= set(tools_i18n().help_texts())            # the homework commands' --help
    missing = sorted(m for m in marked if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, "not translated (python tools/i18n.py update, then translate):\n" + "\n".join(missing)
    placeholders = re.compile(r"\{(\w*)[^{}]*\}")
    for message in catalog:
        if message.id and isinstance(message.id, str) and message.string:
            # a translation may reorder or leave out a placeholder, never name one the code does not fill
            assert set(placeholders.findall(message.string)) <= set(placeholders.findall(message.id)), message.id


def test_a_second_language_is_one_catalog(tmp_path, monkeypatch):
    """Drop archcalc.mo into locale/<code>/LC_MESSAGES and --lang <code> speaks it: nothing else changes."""
    locale = tmp_path / "locale"
    shutil.copytree(ROOT / "archcalc" / "locale", locale)
    catalog = read_catalog(CATALOG)
    catalog.locale = None
    for message in catalog:
        if message.id == "{model}: worked arithmetic":
            message.string = "{model}: calcul détaillé"
        elif message.id:
            message.string = ""
    (locale / "fr" / "LC_MESSAGES").mkdir(parents=True)
    with open(locale / "fr" / "LC_MESSAGES" / "archcalc.mo", "wb") as handle:
        mofile.write_mo(handle, catalog)
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    assert "fr" in i18n.available()
    result = cli("explain", "lenet5", "--layer", "conv1", "--lang", "fr")
    assert result.returncode == 0 and result.stdout.startswith("lenet5: calcul détaillé")


@pytest.mark.parametrize("command", ["summarize", "explain", "compare", "check", "calc", "calc conv", "calc pool",
                                     "calc dense"])
def test_homework_help_is_korean(command):
    """`--help` of the homework commands: the description, every option's help and click's headings."""
    korean = cli(*command.split(), "--help", "--lang", "ko")
    english = cli(*command.split(), "--help")
    assert korean.returncode == english.returncode == 0
    assert "사용법:" in korean.stdout and "옵션:" in korean.stdout and "Usage:" in english.stdout
    allowed = SYMBOLS | type_names() | set(CLASSIC) | {"OPTIONS", "SPEC", "SPECS", "ANSWERS", "FILE", "NAME",
                                                       "SHAPE", "COMMAND", "ARGS", "numpy", "INTEGER", "RANGE"}
    from archcalc.cli import HELP_TRANSLATED
    listed_elsewhere = re.compile(r"^  (\S+)  ")         # a command list's row for a command not translated
    lines = [line for line in korean.stdout.splitlines()
             if not (listed_elsewhere.match(line) and f"{command} {listed_elsewhere.match(line)[1]}" not in HELP_TRANSLATED
                     and not line.lstrip().startswith("-"))]
    # option names and their metavars are code: drop the `--option METAVAR` column before looking for English
    text = "\n".join(re.sub(r"^\s+(-\S+(, --?\S+)?( [A-Z_=\[\]|a-z0-9.-]+)?)\s{2,}", "", line)
                     for line in lines)
    assert not english_sentences(text, allowed), korean.stdout


@pytest.mark.parametrize("spec", ["mnist_cnn", "alexnet"])
def test_exercise_sheets_in_korean(spec, tmp_path):
    """`exercises --lang ko`: the sheet, its key with the worked solutions, and the answers file's comments."""
    sheet, key, answers = tmp_path / "sheet.md", tmp_path / "key.md", tmp_path / "answers.yaml"
    result = cli("exercises", spec, "--count", "8", "--seed", "3", "-o", sheet, "--key", key, "--answers", answers,
                 "--lang", "ko")
    assert result.returncode == 0, result.stderr
    from archcalc.layers.registry import layer_types
    options = {word for cls in layer_types() for name in cls.options for word in name.split("_")}
    allowed = SYMBOLS | type_names() | layer_names(spec) | options | {spec, "answers", "yaml", "exercise", "max",
                                                                     "avg", "input", "kernel", "stride", "mode"}
    for path in (sheet, key):
        text = path.read_text(encoding="utf-8")
        assert re.search("[가-힣]", text)
        assert not english_sentences(text, allowed), path.name
    comments = [line for line in answers.read_text(encoding="utf-8").splitlines() if line.startswith("# ")]
    assert comments and re.search("[가-힣]", comments[0])


# The other commands on the classic exercises and on the course's two sequence models, in Korean. Their output
# also holds code and data, taken out of the text before looking: the counting tools' calls
# (analysis.conventions) and the accelerators' names and datasheet citations (archcalc/data/accelerators.yaml);
# allowed as words: the layer kinds and options (`archcalc layers`) and the tools and libraries the text cites.
HARDWARE_WORDS = {"DeepSpeed", "FSDP", "ZeRO", "GPU", "CUDA", "cuBLAS", "FlopCounterMode", "SHARD_GRAD_OP",
                  "FULL_SHARD", "FlatParameter", "reduce-scatter", "zero-paper", "offload", "optimizer", "none", "CPU", "oneDNN", "cuDNN",
                  "adam", "sgd", "naive", "flash", "causal", "et", "al", "ddp", "zero1", "zero2", "zero3",
                  "fsdp-grad-op", "fsdp-full", "FlashAttention", "math", "ReLU", "GELU", "TFLOP", "TOPS", "GB"}


def code_words():
    """Words that are code, not sentences: the layer kinds and option names, and HARDWARE_WORDS."""
    from archcalc.layers.counting import TOOLS
    from archcalc.layers.registry import layer_types
    words = set(HARDWARE_WORDS) | set(TOOLS)
    for cls in layer_types():
        words |= {str(getattr(cls.kind, "value", cls.kind)), *cls.options}
    return words


def data_strings():
    """Text that is data, not archcalc's sentences, longest first: each tool's call and each accelerator's name
    and citation (whole, and as the --list table cuts it)."""
    from archcalc.analysis.conventions import CONVENTIONS
    from archcalc.analysis.roofline import accelerators
    strings = {convention.tool for convention in CONVENTIONS.values()}
    for gpu in accelerators().values():
        strings |= {gpu.name, gpu.source, gpu.source.split(";")[0].split(" (")[0]}
    return sorted(strings, key=len, reverse=True)


def hardware_runs():
    """(command line, allowed words): memory (inference and an Adam training step), conventions, shard (every
    strategy, and ZeRO-3 and ZeRO-2 with offload in detail), roofline, and on the attention of gpt2 and the
    recurrent lstm_lm explain, conventions, memory and roofline (verify has its own test: it needs torch)."""
    runs = []
    for spec in ("lenet5", "alexnet"):
        allowed = SYMBOLS | type_names() | layer_names(spec) | set(CLASSIC) | code_words()
        runs += [(("memory", spec), allowed), (("memory", spec, "--mode", "training", "--optimizer", "adam"), allowed),
                 (("memory", spec, "--mode", "training", "--budget", "1GiB", "--device", "cuda"), allowed),
                 (("conventions", spec), allowed), (("conventions", spec, "--format", "markdown"), allowed),
                 (("shard", spec), allowed), (("shard", spec, "--batch", "32", "--budget", "8GB"), allowed),
                 (("shard", spec, "--strategy", "zero3", "--devices", "16", "--nodes", "2"), allowed),
                 (("shard", spec, "--strategy", "zero2", "--offload", "optimizer"), allowed),
                 (("shard", spec, "--strategy", "fsdp-full"), allowed),
                 (("roofline", spec), allowed), (("roofline", spec, "--train", "--dtype", "fp32"), allowed),
                 (("memory", spec, "--format", "html"), allowed), (("conventions", spec, "--format", "html"), allowed),
                 (("memory", spec, "--mode", "training", "--optimizer", "adam", "--budget", "1GiB", "--format",
                   "html"), allowed)]
    runs += [(("roofline", "--list"), SYMBOLS | code_words())]
    for spec, layer in (("gpt2", "h.0.attn"), ("lstm_lm", None)):
        allowed = SYMBOLS | type_names() | layer_names(spec) | {spec} | code_words()
        runs += [(("explain", spec) + (("--layer", layer) if layer else ()), allowed),
                 (("explain", spec, "--format", "markdown") + (("--layer", layer) if layer else ()), allowed),
                 (("conventions", spec), allowed), (("memory", spec, "--mode", "training", "--optimizer", "adam"),
                                                    allowed), (("roofline", spec), allowed)]
    return runs


def korean_english(args, allowed):
    result = cli(*args, "--lang", "ko")
    assert result.returncode == 0, (args, result.stderr)
    assert re.search("[가-힣]", result.stdout), args
    text = result.stdout + result.stderr
    if "html" in args:          # the page's words, without its markup, style, script and drawing
        import html
        text = re.sub(r"<(script|style|svg)\b.*?</\1>", "", text, flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", "\n", text))
    for data in data_strings():
        text = text.replace(data, " ")
    return english_sentences(text, allowed)


def test_hardware_and_sequence_commands_leave_no_english_sentence_in_korean():
    untranslated = {" ".join(map(str, args)): left for args, allowed in hardware_runs()
                    if (left := korean_english(args, allowed))}
    assert not untranslated, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in untranslated.items())


def test_verify_in_korean():
    pytest.importorskip("torch")
    allowed = SYMBOLS | type_names() | layer_names("lenet5") | {"lenet5"} | code_words()
    for args in (("verify", "lenet5"), ("verify", "lenet5", "--train")):
        assert not korean_english(args, allowed), args
    korean = cli("verify", "lenet5", "--lang", "ko").stdout
    # lenet5's totals, by hand: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706 parameters, and they agree
    assert "파라미터 수: 61,706 ✓" in korean and "모두 일치 ✓" in korean


def test_the_hardware_detector_finds_english():
    """The allow-list does not hide a sentence: an English note among the tools' names is still found."""
    allowed = SYMBOLS | code_words()
    assert english_sentences("- 참고: model states only, activations come on top", allowed)
    assert not english_sentences("fvcore  MACs  ZeRO 3단계: 옵티마이저 상태 분할  naive flash", allowed)
    # what is taken out is data: no accelerator's name or citation is a message archcalc marks for translation
    from archcalc.analysis.roofline import accelerators
    catalog = read_catalog(CATALOG)
    assert "NVIDIA H100 SXM5 80GB" in data_strings()
    assert not any(catalog.get(text) for gpu in accelerators().values() for text in (gpu.name, gpu.source))


# Mistakes with the other commands: each message and its fix in Korean (exit status 2, no traceback)
HARDWARE_MISTAKES = [
    ("memory", "lenet5", "--optimizer", "adam"),                          # a training option in inference
    ("memory", "lenet5", "--mode", "training", "--mixed-precision"),      # mixed precision needs a 16-bit dtype
    ("shard", "lenet5", "--strategy", "ddp", "--offload", "optimizer"),   # nothing to offload
    ("shard", "lenet5", "--strategy", "zero2", "--offload", "optimizer+params"),
    ("shard", "lenet5", "--devices", "3", "--nodes", "2"),                # 3 devices over 2 nodes
    ("roofline", "lenet5", "--gpu", "nope"),
    ("roofline", "lenet5", "--gpu", "t4", "--dtype", "bf16"),             # the T4 datasheet has no bf16 figure
]


@pytest.mark.parametrize("args", HARDWARE_MISTAKES, ids=lambda a: " ".join(a))
def test_hardware_mistakes_are_explained_in_korean(args):
    result = cli(*args, "--lang", "ko")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("오류:") and "고치는 법:" in result.stderr, result.stderr
    allowed = SYMBOLS | type_names() | layer_names("lenet5") | code_words() | {"nope", "t4"}
    text = result.stderr
    for data in data_strings():
        text = text.replace(data, " ")
    assert re.search("[가-힣]", text) and not english_sentences(text, allowed), result.stderr


def test_diagram_caption_in_korean():
    """The SVG's caption: lenet5's 61,706 parameters (by hand: 156 + 2,416 + 48,120 + 10,164 + 850) as 61.7K."""
    korean = cli("diagram", "lenet5", "--lang", "ko")
    assert korean.returncode == 0 and "파라미터 수 61.7K" in korean.stdout and " params, " not in korean.stdout
    assert "61.7K params, " in cli("diagram", "lenet5").stdout


# Mistakes in the layers of the other families (attention, embedding, norm, tensor ops, merges): in Korean
LAYER_MISTAKES = [
    "input: [5, 10]\nlayers:\n  - attention: {heads: 3}\n",                          # 10 features, 3 heads
    "input: [1, 28, 28]\nlayers:\n  - reshape: {shape: [5, -1]}\n",                  # 784 = 5·156.8
    "input: [1, 28, 28]\nlayers:\n  - conv2d: {name: a, filters: 4, kernel: 3}\n"
    "  - conv2d: {name: b, filters: 8, kernel: 3, from: input}\n  - add: {from: [a, b]}\n",   # 4 vs 8 channels
    "input: [1, 28, 28]\nlayers:\n  - conv2d: {name: a, filters: 4, kernel: 3}\n"
    "  - conv2d: {name: b, filters: 4, kernel: 5, from: input}\n  - concat: {from: [a, b]}\n",  # 26 vs 24
    "input: [784]\nlayers:\n  - upsample: {scale: 2}\n",
    "input: {shape: [8], dtype: int64}\nlayers:\n  - embedding: {vocabulary: 10, dimension: 4, padding_idx: 12}\n",
    "input: [6, 8, 8]\nlayers:\n  - groupnorm: {groups: 4}\n",                     # 6 channels, 4 groups
    "input: [5, 8]\nlayers:\n  - matmul: {from: [input, input]}\n",                 # (5, 8)·(5, 8)
    "input: [5, 8]\nlayers:\n  - permute: [0, 0]\n",
    "input: [5, 8]\nlayers:\n  - gelu: {approximate: x}\n",                     # the option's values in the fix
    "input: [5, 8]\nlayers:\n  - lstm: {hidden: 4, proj_size: 9}\n",            # proj_size 9 >= hidden 4
    "input: [5, 8]\nlayers:\n  - take: {axis: 0, sizes: [2, 2], index: 0}\n",   # 2 + 2 != 5
]


@pytest.mark.parametrize("text", LAYER_MISTAKES)
def test_layer_mistakes_are_explained_in_korean(text, tmp_path):
    path = tmp_path / "mistake.yaml"
    path.write_text("name: t\n" + text, encoding="utf-8")
    result = cli("summarize", path, "--lang", "ko")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("오류:") and "고치는 법:" in result.stderr, result.stderr
    allowed = SYMBOLS | type_names() | code_words() | {"mistake.yaml", "t", "input", "heads", "head_dim"}
    assert not english_sentences(result.stderr, allowed), result.stderr


def test_a_recurrent_warning_in_korean(tmp_path):
    """lstm with dropout and one layer: torch ignores the dropout; the warning and its fix are Korean."""
    path = tmp_path / "lstm.yaml"
    path.write_text("name: t\ninput: [5, 8]\nlayers:\n  - lstm: {hidden: 4, dropout: 0.5}\n", encoding="utf-8")
    result = cli("summarize", path, "--lang", "ko")
    assert result.returncode == 0 and "dropout 0.5은(는) 효과가 없습니다" in result.stdout + result.stderr
    assert not english_sentences(result.stdout + result.stderr, SYMBOLS | type_names() | code_words() | {"t", "lstm_1"})


def test_every_layer_types_explanation_in_korean():
    """Each registered type's own example (the layer contract's `example`), explained in Korean: the notes of
    every family (attention, recurrent, embedding, norm, tensor ops, resampling, 1-D and 3-D pooling) leave
    no English sentence."""
    from archcalc.homework.explain import explain
    from archcalc.layers.registry import layer_types
    from archcalc.report.homework import explanation
    from archcalc.spec.graph import as_graph
    untranslated = {}
    for cls in layer_types():
        spec = cls.example_spec()
        graph = as_graph(spec)
        allowed = SYMBOLS | type_names() | code_words() | {node.name for node in graph.nodes} | {spec["name"]}
        with i18n.using("ko"):
            text = explanation(explain(graph)) + "\n" + explanation(explain(graph), "markdown")
        assert re.search("[가-힣]", text), cls.type_name
        left = english_sentences(text, allowed)
        if left:
            untranslated[cls.type_name] = left
    assert len(layer_types()) > 50 and not untranslated, untranslated


def test_verify_keras_in_korean():
    import os
    pytest.importorskip("torch")
    os.environ.setdefault("KERAS_BACKEND", "torch")          # as tests/test_keras.py: Keras 3 on torch
    pytest.importorskip("keras")
    allowed = SYMBOLS | type_names() | layer_names("lenet5") | {"lenet5", "Keras's"} | code_words()
    assert not korean_english(("verify", "lenet5", "--keras"), allowed)
    # 61,706 parameters (by hand, as above), none of them non-trainable: Keras agrees on both
    korean = cli("verify", "lenet5", "--keras", "--lang", "ko").stdout
    assert "비학습 파라미터 수: 0 ✓" in korean and "모두 일치 ✓" in korean


@pytest.mark.parametrize("command", ["memory", "conventions", "shard", "roofline", "layers", "verify", "diagram",
                                     "plot", "serve", "zoo", "exercises", "new", "schema", "export-torch",
                                     "export-keras", "from-keras", "from-hf"])
def test_the_other_commands_help_is_korean(command):
    """`--help` of the commands beyond homework: the description and every option's help, in Korean; English
    --help as before."""
    korean = cli(command, "--help", "--lang", "ko")
    english = cli(command, "--help")
    assert korean.returncode == english.returncode == 0
    assert "사용법:" in korean.stdout and "옵션:" in korean.stdout and "Usage:" in english.stdout
    assert "사용법:" not in english.stdout
    allowed = SYMBOLS | type_names() | set(CLASSIC) | code_words() | {
        "OPTIONS", "SPEC", "SPECS", "FILE", "NAME", "SHAPE", "BYTES", "INTEGER", "RANGE", "FLOAT", "PORT", "et", "al",
        "Rajbhandari", "Graphviz", "DOT", "SVG", "Keras", "YAML", "PyTorch's", "alexnet", "vgg16", "resnet50",
        "main", "pip", "install", "PATH", "TEXT", "CONFIG", "FOLDER", "TARGET", "PACKAGE", "MODULE", "CALLABLE", "API",
        "JSON", "Schema", "Hugging", "Face", "Sequential", "README", "HTML", "Markdown", "Layout"}          # main: the program's name in a CliRunner run
    # option names and their metavars are code: drop the `--option METAVAR` column before looking for English
    text = "\n".join(re.sub(r"^\s+(-\S+(, --?\S+)?( [A-Z_=\[\]|a-z0-9.-]+)?)\s{2,}", "", line)
                     for line in korean.stdout.splitlines() if not line.lstrip().startswith(("archcalc ", "-")))
    assert not english_sentences(text, allowed), english_sentences(text, allowed)


def test_shard_table_words_in_korean():
    """Single words the sentence detector cannot see: the components and where each lives. lenet5's 61,706
    weights in 16-bit over 8 devices (ZeRO-3): 2 × 61,706 / 8 = 15,426.5 -> 15,426 bytes per device."""
    korean = cli("shard", "lenet5", "--strategy", "zero3", "--lang", "ko").stdout
    assert "2 × 61,706 / 8" in korean and "15,426바이트" in korean
    table = korean.split("\n\n")[1]
    assert "가중치 " in table and "장치" in table and not re.search(r"\b(weights|device|host|whole)\b", table), table


def test_click_usage_errors_follow_the_language():
    """click's own messages go through archcalc's catalog: each one marked in cli.CLICK_MESSAGES is still a
    message click writes (read from its source), and a usage error comes out in Korean, exit status 2."""
    import inspect

    import click.core
    import click.exceptions
    import click.parser
    import click.types
    from archcalc.cli import CLICK_MESSAGES
    source = "".join(inspect.getsource(m) for m in (click.core, click.exceptions, click.parser, click.types))
    assert [m for m in CLICK_MESSAGES if f'"{m}"' not in source] == []
    korean = cli("summarize", "lenet5", "--batch", "x", "--lang", "ko")
    english = cli("summarize", "lenet5", "--batch", "x")
    assert korean.returncode == english.returncode == 2
    assert "오류: '--batch' / '-b'의 값이 잘못됨" in korean.stderr and "도움말은" in korean.stderr
    assert "Error: Invalid value for '--batch' / '-b'" in english.stderr
