"""The README and the docs site stay true: their shell examples run, the site's nav and pages agree, and
the build hook's generated parts (layer table, command reference, command output) come from the real thing.

The full site is built with `mkdocs build --strict` by .ci/run after the tests; here only what is cheap."""
import re
import shlex

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from conftest import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + sorted(DOCS.glob("ko/*.md"))      # docs/ko: the Korean pages

# Commands the shell-example test does not run, and why (each is run elsewhere: verify and the torch
# bridges by tests/test_verify.py and tests/test_from_torch.py, CUDA by tests/test_cuda.py).
NOT_RUN_HERE = {
    "verify": "builds and runs a torch model: seconds per example",
    "export-torch": "needs torch",
    "from-torch": "imports a user's module",
    "serve": "runs a web server until stopped (tests/test_web_server.py starts it)",
    "export-keras": "needs keras: tests/test_keras.py runs it",
    "from-keras": "needs keras: tests/test_keras.py runs it",
}
WRITTEN_BY_A_SKIPPED_EXAMPLE = {"small.yaml": "from-torch", "googlenet.yaml": "from-torch"}


def shell_examples(path):
    """(line number, command) for each `archcalc ...` line of the file's ```bash blocks and `$ archcalc`
    lines of its text blocks; a trailing `# comment` and anything after a pipe are dropped."""
    found, fence = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:]
            continue
        if fence in ("bash", "text", ""):
            command = stripped[2:] if stripped.startswith("$ ") else (stripped if fence == "bash" else "")
            command = command.split(" | ")[0].split("  #")[0].strip()
            command = re.sub(r"^pip install \S+( \S+)* && ", "", command)
            if command.startswith("archcalc "):
                found.append((number, command))
    return found


def example_files():
    """Files the examples read, taken from the docs themselves (`<!-- archcalc file NAME -->` blocks):
    the getting-started spec, the answers, the matrices, the pasted summary."""
    import textwrap
    files = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for indent, name, body in re.findall(r"^( *)<!-- archcalc file (\S+) -->\n *```[^\n]*\n(.*?)^ *```",
                                             text, re.S | re.M):
            files[name] = textwrap.dedent(body)
    return files


EXAMPLES = [(path, number, command) for path in [ROOT / "README.md", *PAGES]
            for number, command in shell_examples(path)]


def test_the_examples_are_found():
    """The collector is real: it finds the README's two commands and the docs' memory examples."""
    commands = {command for _, _, command in EXAMPLES}
    assert {"archcalc zoo", "archcalc summarize alexnet"} <= commands
    assert "archcalc memory vgg16 --inplace" in commands
    assert len(EXAMPLES) > 25


@pytest.mark.parametrize("path,number,command", EXAMPLES,
                         ids=[f"{p.name}:{n}" for p, n, _ in EXAMPLES])
def test_shell_example_runs(path, number, command, tmp_path, monkeypatch):
    argv = shlex.split(command)[1:]
    if argv[0] in NOT_RUN_HERE:
        pytest.skip(NOT_RUN_HERE[argv[0]])
    for name, writer in WRITTEN_BY_A_SKIPPED_EXAMPLE.items():
        if name in argv:
            pytest.skip(f"reads {name}, which the {writer} example writes")
    if "--device" in argv and argv[argv.index("--device") + 1] == "cuda" and argv[0] != "memory":
        pytest.skip("needs a GPU")
    monkeypatch.chdir(tmp_path)
    for name, body in example_files().items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    result = CliRunner().invoke(main, argv)
    allowed = (0, 1) if argv[0] == "check" else (0,)       # check: 1 = it graded, and some answers are wrong
    assert result.exit_code in allowed, f"{path.name}:{number}: `{command}` -> {result.exit_code}\n{result.output}"


def readme_outputs():
    """The README's ```text blocks that open with `$ archcalc ...`: the command and what it printed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```text\n\$ (archcalc [^\n]*)\n(.*?)```", text, re.S)


def test_readme_outputs_are_what_the_commands_print():
    blocks = readme_outputs()
    assert blocks, "the README shows no command output"
    for command, shown in blocks:
        result = CliRunner(env={"NO_COLOR": "1"}).invoke(main, shlex.split(command)[1:])
        assert result.exit_code == 0
        assert result.output.rstrip("\n") == shown.rstrip("\n"), command


def nav_files():
    import yaml
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def walk(items):
        for item in items:
            for value in (item.values() if isinstance(item, dict) else [item]):
                yield from walk(value) if isinstance(value, list) else [value]
    return config, list(walk(config["nav"]))


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    config, files = nav_files()
    assert sorted(files) == sorted(p.relative_to(DOCS).as_posix() for p in PAGES)
    assert config["hooks"] == ["docs/_hooks/archcalc_docs.py"] and (ROOT / config["hooks"][0]).exists()


def test_readme_links_point_at_pages_that_exist():
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert links and all((ROOT / link).exists() for link in links), links


def test_readme_is_short_and_keeps_the_ci_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = "pip install torch==2.14.1 torchvision==0.29.1 -e '.[test]' && pytest -q"
    assert command in readme and command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 120


def test_the_tested_torch_version_is_stated_once_and_the_same_everywhere():
    """Issue 15, point 10: the README said any torch >= 2.1 works, which no test checked. Now the docs say
    what is tested, and that is the version the README's test command and CI pin."""
    pinned = re.findall(r"torch==([0-9.]+)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    verify_page = (DOCS / "verify.md").read_text(encoding="utf-8")
    assert pinned and set(pinned) == set(re.findall(r"torch==([0-9.]+)", readme))
    assert f"**torch {pinned[0]}**" in verify_page.split("## Torch versions", 1)[1]
    assert "any torch" not in readme.lower()


# ---- the build hook

@pytest.fixture(scope="module")
def hook():
    pytest.importorskip("mkdocs")
    import importlib.util
    spec = importlib.util.spec_from_file_location("archcalc_docs", DOCS / "_hooks" / "archcalc_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hook_layer_table_lists_every_registered_type(hook):
    from archcalc.layers import LAYER_TYPES
    table = hook.expand("<!-- archcalc layers-table -->\n", "t.md")
    assert all(f"| `{cls.type_name}`" in table for cls in LAYER_TYPES)
    assert "`filters`* (`out_channels`" in table            # option aliases and meanings are there too


def test_hook_command_reference_has_every_command(hook):
    text = hook.expand("<!-- archcalc commands -->\n", "t.md")
    for name in main.list_commands(None):
        assert f"## `archcalc {name}`" in text
    assert "## `archcalc calc dense`" in text and "Usage: archcalc calc dense" in text


def test_hook_runs_the_command_and_fails_on_a_stale_one(hook):
    page = ("<!-- archcalc file net.yaml -->\n```yaml\ninput: [784]\nlayers: [{dense: 10}]\n```\n"
            "<!-- archcalc run: archcalc summarize net.yaml | grep -E ^Total -->\n")
    out = hook.expand(page, "t.md")
    assert "$ archcalc summarize net.yaml | grep -E ^Total\nTotal params:" in out
    assert "7,850" in out                                   # 784·10 + 10
    with pytest.raises(hook.DocsError, match="exited with 2, expected 0"):
        hook.expand("<!-- archcalc run: archcalc summarize net.yaml --no-such-flag -->\n", "t.md")
    error = hook.expand("<!-- archcalc run(2): archcalc summarize missing.yaml -->\n", "t.md")
    assert "error:" in error and "$ echo $?\n2" in error


def test_every_python_name_the_docs_mention_exists():
    """`archcalc.homework.explain.explain` and the like: the package was reorganised once already and the
    README kept the old paths; a name the docs give must import."""
    import importlib
    names = set()
    for page in [ROOT / "README.md", *PAGES]:
        names |= set(re.findall(r"`[^`]*?\b(archcalc(?:\.[a-z_][a-z_0-9]*)+)", page.read_text(encoding="utf-8")))
    names -= {name for name in names if name.endswith((".json", ".fish", ".po", ".mo"))}    # files: archcalc.schema.json, archcalc.fish, archcalc.po
    assert len(names) > 8
    missing = []
    for name in sorted(names):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            missing.append(name)
    assert missing == []
