"""Errors a user can act on: each one knows where in the spec it happened and how to fix it."""
import errno
import os
from contextlib import contextmanager

from .i18n import N_, _

FILE_KINDS = {"spec": N_("spec"), "answers": N_("answers"), "matrix": N_("matrix"), "GPU file": N_("GPU file")}


def _kind(what):
    """The kind of file a message names (spec, answers, matrix), in the active language."""
    return _(FILE_KINDS[what]) if what in FILE_KINDS else what


class Unsupported(Exception):
    """A torch (or Keras) operation with no archcalc equivalent; the text says what is missing."""


class SpecError(Exception):
    """A mistake in a spec or in a command's input; the CLI prints it and exits with status 2."""

    def __init__(self, message, *, file=None, line=None, column=None, layer=None, hint=None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.layer = layer
        self.hint = hint

    def located(self, *, file=None, line=None, column=None, layer=None):
        """Fill in whatever location the raiser did not know."""
        self.file = self.file or file
        self.line = self.line or line
        self.column = self.column or column
        self.layer = self.layer or layer
        return self

    def __str__(self):
        where = ""
        if self.file:
            where = str(self.file)
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        layer = _("layer '{layer}': ").format(layer=_clip(str(self.layer), 200)) if self.layer else ""
        text = f"{where}{layer}{_clip(self.message, MAX_MESSAGE)}"
        if self.hint:
            text += "\n  " + _("fix:") + " " + _clip(self.hint, MAX_MESSAGE)
        return text


MAX_MESSAGE = 1200      # characters of a message or a fix; a hostile file's text quoted in one is cut


def require_choice(value, choices, message):
    """Refuse a `value` not among `choices` with `message` (what is wrong, in words) and the choices as the
    fix: the one shape of every "unknown optimizer 'x'" the library gives."""
    if value not in choices:
        raise SpecError(message, hint=_("choose one of {names}").format(names=", ".join(choices)))


def _clip(text, limit):
    return text if len(text) <= limit else f"{text[:limit - 200]} … ({len(text) - limit + 80:,} characters left out) … {text[-120:]}"


class LayerError(SpecError):
    """Raised by a layer's arithmetic; the analyzer adds the file, line and layer name."""


class MissingExtra(SpecError):
    """An optional dependency is not installed; the message names the pip command that adds it."""

    def __init__(self, package, extra, purpose):
        super().__init__(_("{purpose} needs {package}, which is not installed").format(purpose=purpose, package=package),
                         hint=_("pip install 'archcalc[{extra}]'  (or: pip install {package})").format(extra=extra,
                                                                                                      package=package))


@contextmanager
def writing(path):
    """Around a write to `path`: a missing folder, a denied permission or a full disk becomes a SpecError."""
    try:
        yield
    except OSError as err:
        long = err.errno == errno.ENAMETOOLONG and len(str(path)) > 80
        shown = str(path)[:60] + "..." + str(path)[-12:] if long else str(path)
        hint = {errno.ENOSPC: N_("the disk is full: free some space or write to another disk"),
                errno.EDQUOT: N_("your disk quota is used up: free some space or write elsewhere"),
                errno.ENAMETOOLONG: N_("use a shorter file name"),
                errno.EROFS: N_("that file system is read-only: write somewhere else")}.get(
            err.errno, N_("check that the folder exists and that you may write there"))
        raise SpecError(_("cannot write '{path}': {why}").format(path=shown, why=err.strerror or err),
                        hint=_(hint)) from None


MAX_INPUT_BYTES = 4 * 1024 * 1024   # a spec, answer file, pasted table or matrix; the largest built-in spec is ~10 KB
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def read_text(path, what, *, limit=MAX_INPUT_BYTES):
    """The text of a file the user named (`what`: spec, answers, matrix). Its size is checked before it is
    read; a byte-order mark selects UTF-8/16/32; anything else must be UTF-8. A file that is missing,
    unreadable, too large, not text or holding NUL characters becomes a SpecError with the line."""
    shown = _kind(what)
    try:
        size = os.stat(path).st_size
        if size > limit:
            raise SpecError(_("the {what} is {size} bytes, more than archcalc reads ({limit} bytes)").format(
                what=shown, size=f"{size:,}", limit=f"{limit:,}"), file=str(path),
                hint=_("is this the right file? a {what} is a few kilobytes").format(what=shown))
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as err:
        raise SpecError(_("cannot read the {what}: {why}").format(what=shown, why=err.strerror or err),
                        file=str(path), hint=_("check the path and that you may read the file")) from None
    if len(data) > limit:
        raise SpecError(_("the {what} is more than {limit} bytes, more than archcalc reads").format(
            what=shown, limit=f"{limit:,}"), file=str(path),
            hint=_("is this the right file? a {what} is a few kilobytes").format(what=shown))
    return decode(data, path, what)


def decode(data, path, what):
    """Bytes of a user's file -> text, as read_text describes."""
    encoding, skip = "utf-8", 0
    what = _kind(what)
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, skip = name, len(bom)
            break
    try:
        text = data[skip:].decode(encoding)
    except UnicodeDecodeError as err:
        bad = skip + err.start
        line = data[:bad].count(b"\n") + 1
        column = bad - (data.rfind(b"\n", 0, bad) + 1) + 1
        if encoding != "utf-8":
            why = _("is not valid {encoding} text after its byte-order mark").format(encoding=encoding.upper())
        elif data.count(b"\x00") * 4 > len(data):
            why = _("it holds NUL bytes between its characters, as UTF-16 text without a byte-order mark does")
        elif _binary(data):
            raise SpecError(_("cannot read the {what}: byte {position} ({byte}) is not UTF-8 text; this "
                              "looks like a binary file").format(what=what, position=bad + 1, byte=f"0x{data[bad]:02x}"),
                            file=str(path), line=line, column=column,
                            hint=_("the {what} must be a text file; is this the right file?").format(what=what)) from None
        else:
            why = _("byte {byte} is not UTF-8 (Latin-1 or Windows-1252 text?)").format(byte=f"0x{data[bad]:02x}")
        raise SpecError(_("cannot read the {what}: {why}").format(what=what, why=why), file=str(path), line=line,
                        column=column,
                        hint=_("save the {what} as UTF-8 text (your editor's 'Save with encoding')").format(
                            what=what)) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        if text.count("\x00") * 4 > len(text):
            why = _("it holds NUL bytes between its characters, as UTF-16 text without a byte-order mark does")
            raise SpecError(_("cannot read the {what}: {why}").format(what=what, why=why), file=str(path), line=line,
                            column=column,
                            hint=_("save the {what} as UTF-8 text (your editor's 'Save with encoding')").format(
                                what=what))
        raise SpecError(_("the {what} holds a NUL character (\\0)").format(what=what), file=str(path), line=line,
                        column=column, hint=_("delete it; is this the right file? a {what} is plain text").format(
                            what=what))
    return text


def _binary(data):
    """Control bytes other than tab, newline and carriage return in the first KiB: not a text file."""
    head = data[:1024]
    return any(byte < 32 and byte not in (9, 10, 13) for byte in head)


def require(module, extra, purpose):
    """Import an optional dependency, or raise MissingExtra naming the extra that installs it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(module.split(".")[0], extra, purpose) from None
