"""The message catalogs, in development (needs Babel: pip install -e '.[test]').

    python tools/i18n.py update     # extract every _(), N_(), ngettext() from archcalc/ into
                                    # archcalc/locale/archcalc.pot and merge it into each language's .po
    python tools/i18n.py compile    # each .po -> its .mo, which ships with the package

Translate in archcalc/locale/<code>/LC_MESSAGES/archcalc.po (new messages come in with an empty msgstr),
then compile; tests/test_i18n.py checks that each shipped .mo is its .po compiled and that nothing marked
is left untranslated. A new language: `pybabel init -D archcalc -i archcalc/locale/archcalc.pot
-d archcalc/locale -l <code>`, translate, compile.
"""
import sys
from pathlib import Path

from babel.messages import mofile, pofile
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "archcalc" / "locale"
DOMAIN = "archcalc"


# Each catalog's opening comment: what a translator keeps to (the course's terms, the formulas' symbols).
HEADERS = {
    None: "# archcalc's messages in {locale}.\n# Keep {{placeholders}} (they may move), formulas in their symbols "
          "(O = (N − F + 2P)/S + 1),\n# layer type names (conv2d, dense) and option names as they are.",
    "ko": "# archcalc's messages in Korean (ko).\n# Keep {{placeholders}} (they may move), formulas in their symbols "
          "(O = (N − F + 2P)/S + 1),\n# layer type names (conv2d, dense) and option names as they are.\n"
          "# The course's terms: 합성곱층 (conv), 풀링층 (pool), 완전연결층 (dense), 파라미터 수 / 가중치 수 (params),\n"
          "# 특성 맵 (feature map), 스트라이드 (stride), 패딩 (padding), 수용 영역 (receptive field),\n"
          "# 출력 크기 (output size / output shape), 편향 (bias).",
}


def catalogs():
    return sorted(LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def extract():
    """Every marked message of the package, with the files it is in (no line numbers: merges stay quiet),
    and the --help texts of the commands archcalc.cli.HELP_TRANSLATED names."""
    template = Catalog(project="archcalc", domain=DOMAIN)
    for filename, _line, message, comments, context in extract_from_dir(str(ROOT / "archcalc")):
        template.add(message, locations=[(f"archcalc/{filename}", None)], auto_comments=comments, context=context)
    for message in help_texts():
        template.add(message, locations=[("archcalc/cli.py", None)], auto_comments=["--help"])
    return template


def help_texts():
    """What `archcalc COMMAND --help` writes for the group and the commands in HELP_TRANSLATED: each
    command's description (as click cleans it) and each option's help."""
    import inspect

    import click

    sys.path.insert(0, str(ROOT))
    from archcalc.cli import HELP_TRANSLATED, every_command
    texts = ["Show this message and exit."]
    for path, command in every_command():
        if path and " ".join(path) not in HELP_TRANSLATED:
            continue
        if command.help:
            texts.append(inspect.cleandoc(command.help).partition("\f")[0])
        texts += [param.help for param in command.params if isinstance(param, click.Option) and param.help]
    return list(dict.fromkeys(texts))


def write_po(path, catalog):
    with open(path, "wb") as handle:
        pofile.write_po(handle, catalog, width=100, sort_output=True, include_lineno=False, omit_header=False)


def update():
    template = extract()
    write_po(LOCALE / f"{DOMAIN}.pot", template)
    for path in catalogs():
        with open(path, "rb") as handle:
            catalog = pofile.read_po(handle)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.project, catalog.version = "archcalc", ""
        catalog.msgid_bugs_address = catalog.last_translator = ""
        catalog.language_team = f"archcalc {catalog.locale}"
        catalog.copyright_holder = "the archcalc authors"
        catalog.revision_date = template.creation_date
        catalog.header_comment = HEADERS.get(str(catalog.locale), HEADERS[None]).format(locale=catalog.locale)
        write_po(path, catalog)
        missing = [m.id for m in catalog if m.id and not m.string]
        print(f"{path.relative_to(ROOT)}: {len(missing)} to translate")


def compile_all():
    for path in catalogs():
        with open(path, "rb") as handle:
            catalog = pofile.read_po(handle)
        with open(path.with_suffix(".mo"), "wb") as handle:
            mofile.write_mo(handle, catalog)
        print(f"wrote {path.with_suffix('.mo').relative_to(ROOT)}")


if __name__ == "__main__":
    {"update": update, "compile": compile_all}[sys.argv[1] if len(sys.argv) > 1 else "update"]()
