"""MkDocs hook: the parts of the docs that archcalc itself can write are generated at build time.

Markers in a page (each on a line of its own) are replaced before the Markdown is rendered:

    <!-- archcalc layers-table -->         the layer types, their spellings and options, from the registry
    <!-- archcalc commands -->             every command's --help, walked from the click group
    <!-- archcalc file NAME -->            (just before a fenced block) write that block to NAME in the
                                           page's working folder, for the runs below it to read
    <!-- archcalc run: CMD -->             run CMD (an `archcalc ...` line, optionally `| head -N`,
                                           `| tail -N` or `| grep -E PATTERN`) and show `$ CMD` and
                                           its output; a non-zero exit fails the build
    <!-- archcalc run(N): CMD -->          the same, where exit status N is the expected one (1: a
                                           check that disagrees, 2: an error example)

So a command that no longer runs, or a flag that was renamed, fails `mkdocs build --strict`, and the
output shown is what this version prints. The runs use the Python that runs mkdocs
(`python -m archcalc`), in a fresh temporary folder per page, with NO_COLOR set and a fixed
terminal width, as piped output is.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

MARKER = re.compile(r"^(?P<indent>[ ]*)<!-- archcalc (?P<what>layers-table|commands|file (?P<file>\S+)|run(?:\((?P<rc>\d)\))?: (?P<cmd>.*?)) -->\n"
                    r"(?P<block>[ ]*```[^\n]*\n.*?^[ ]*```\n)?", re.M | re.S)


from mkdocs.exceptions import PluginError


class DocsError(PluginError):
    """A generated part of the docs could not be made: the build stops with this message."""


def run_example(command, folder):
    """`archcalc ...` [| head -N | tail -N | grep -E PAT] -> (exit status, merged stdout+stderr)."""
    stages = [stage.strip() for stage in command.split(" | ")]
    argv = shlex.split(stages[0])
    if argv[0] != "archcalc":
        raise DocsError(f"a run marker must start with `archcalc`: {command}")
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100", PYTHONIOENCODING="utf-8", ARCHCALC_LANG="en")  # --lang ko overrides
    done = subprocess.run([sys.executable, "-m", "archcalc", *argv[1:]], cwd=folder, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    lines = done.stdout.rstrip("\n").split("\n")
    for stage in stages[1:]:
        words = shlex.split(stage)
        if words[0] == "head":
            lines = lines[:int(words[1].lstrip("-n"))]
        elif words[0] == "tail":
            lines = lines[-int(words[1].lstrip("-n")):]
        elif words[:2] == ["grep", "-E"]:
            lines = [line for line in lines if re.search(words[2], line)]
        else:
            raise DocsError(f"unsupported filter '{stage}' in: {command}")
    return done.returncode, "\n".join(lines)


def command_reference():
    """Every command's --help as the terminal shows it, in the order `archcalc --help` lists them."""
    import click

    from archcalc.cli import main

    out = []

    def walk(command, name, parent):
        ctx = click.Context(command, info_name=name, parent=parent, terminal_width=100, max_content_width=100)
        path = ctx.command_path
        if parent is not None:
            out.append(f"## `{path}`\n\n```text\n{command.get_help(ctx)}\n```\n")
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                walk(command.get_command(ctx, sub), sub, ctx)
    walk(main, "archcalc", None)
    return "\n".join(out)


def layers_table():
    from archcalc.report.tables import layer_rules_markdown, layer_types_table
    return layer_types_table(fmt="markdown") + "\n\n" + layer_rules_markdown()


def expand(markdown, page_name):
    with tempfile.TemporaryDirectory(prefix="archcalc-docs-") as folder:
        def replace(match):
            what = match.group("what")
            block = match.group("block") or ""
            if what == "layers-table":
                return layers_table() + "\n" + block
            if what == "commands":
                return command_reference() + "\n" + block
            if match.group("file"):
                if not block:
                    raise DocsError(f"{page_name}: `archcalc file` must stand just before a fenced block")
                indent = match.group("indent")
                content = "".join(line[len(indent):] + "\n" for line in block.split("\n")[1:-2])
                with open(os.path.join(folder, match.group("file")), "w", encoding="utf-8") as handle:
                    handle.write(content)
                return block
            command, expected = match.group("cmd"), int(match.group("rc") or 0)
            status, text = run_example(command, folder)
            if status != expected:
                raise DocsError(f"{page_name}: `{command}` exited with {status}, expected {expected}:\n{text}")
            shown = f"$ {command}\n{text}"
            if expected:
                shown += f"\n$ echo $?\n{status}"
            indent = match.group("indent")
            fenced = f"```text\n{shown}\n```"
            return "\n".join(indent + line if line else line for line in fenced.split("\n")) + "\n" + block
        return MARKER.sub(replace, markdown)


def on_page_markdown(markdown, page, config, files):
    return expand(markdown, page.file.src_path)
