"""The language archcalc speaks: English in the code, other languages from gettext catalogs.

Every user-facing string goes through `_()` (or `ngettext`) when it is shown; module-level tables of
labels mark theirs with `N_()` (no translation at import) and translate them where they are used.
A language is one compiled catalog, archcalc/locale/<code>/LC_MESSAGES/archcalc.mo: dropping one in
adds the language (`available()` lists what is there). Strings with numbers use named placeholders
(`_("{layer}: output size {size}").format(...)`) so a translation may reorder them.

Which language: `set_language("ko")` (the CLI's `--lang ko`), else $ARCHCALC_LANG, else the locale
($LC_ALL, $LC_MESSAGES, $LANG, the first one set, as POSIX reads them: ko_KR.UTF-8 -> ko), else English.

    >>> from archcalc.i18n import _, set_language
    >>> previous = set_language("ko")
    >>> _("output size")
    '출력 크기'
    >>> _ = set_language(previous)

Imports nothing of archcalc's, so any module may import it.
"""
import contextlib
import gettext as _gettext
import os
from pathlib import Path

DOMAIN = "archcalc"
LOCALE_DIR = Path(__file__).with_name("locale")
ENGLISH = "en"
ENV = "ARCHCALC_LANG"
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

_active = {"language": None, "catalog": None}


def available():
    """The languages archcalc can speak: English and every compiled catalog under LOCALE_DIR."""
    found = set()
    if LOCALE_DIR.is_dir():
        found = {entry.name for entry in LOCALE_DIR.iterdir()
                 if (entry / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()}
    return [ENGLISH] + sorted(found - {ENGLISH})


def normalize(code):
    """'ko_KR.UTF-8', 'ko-KR', 'KO' -> 'ko'; 'C' and 'POSIX' -> 'en'."""
    code = str(code).strip().split(".")[0].split("@")[0].replace("-", "_").lower()
    language = code.split("_")[0]
    return ENGLISH if language in ("", "c", "posix") else language


def language_from_environment(environ=None):
    """$ARCHCALC_LANG when it names a language archcalc has, else the locale's, else English."""
    environ = os.environ if environ is None else environ
    known = available()
    wanted = environ.get(ENV, "").strip()
    if wanted and normalize(wanted) in known:
        return normalize(wanted)
    for variable in LOCALE_VARIABLES:        # the first one set decides, as in setlocale(LC_MESSAGES, "")
        value = environ.get(variable, "").strip()
        if value:
            language = normalize(value)
            return language if language in known else ENGLISH
    return ENGLISH


def set_language(language):
    """Speak `language` ('en', 'ko', or any code `available()` lists; 'ko_KR.UTF-8' works too) from now
    on; None goes back to what the environment says. Returns the language that was active before."""
    previous = _active["language"]
    if language is None:
        _active["language"] = _active["catalog"] = None
        return previous
    code = normalize(language)
    known = available()
    if code not in known:
        raise ValueError(f"archcalc speaks {', '.join(known)}; there is no catalog for '{language}' "
                         f"(add archcalc/locale/{code}/LC_MESSAGES/{DOMAIN}.mo)")
    _active["language"] = code
    _active["catalog"] = (_gettext.NullTranslations() if code == ENGLISH else
                          _gettext.translation(DOMAIN, str(LOCALE_DIR), languages=[code]))
    return previous


def language():
    """The language messages are shown in now."""
    if _active["language"] is None:
        set_language(language_from_environment())
    return _active["language"]


@contextlib.contextmanager
def using(language_code):
    """`with using("ko"):` the messages inside are Korean; the language before comes back after."""
    previous = set_language(language_code)
    try:
        yield
    finally:
        set_language(previous)


@contextlib.contextmanager
def kept():
    """Whatever a block sets (the CLI's --lang), the language before it comes back after it."""
    saved = dict(_active)
    try:
        yield
    finally:
        _active.update(saved)


def _catalog():
    if _active["catalog"] is None:
        language()
    return _active["catalog"]


def _(message):
    """`message` in the active language (itself where the catalog has no translation)."""
    return _catalog().gettext(message)


def ngettext(singular, plural, n):
    """The form for `n` in the active language: `ngettext("{n} layer", "{n} layers", n).format(n=n)`."""
    return _catalog().ngettext(singular, plural, n)


def N_(message):
    """Marks a string for the catalog without translating it (tables built at import); `_()` it when shown."""
    return message


__all__ = ["_", "N_", "ngettext", "set_language", "language", "using", "available", "language_from_environment"]
