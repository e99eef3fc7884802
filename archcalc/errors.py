"""Errors a user can act on: each one knows where in the spec it happened and how to fix it."""
from contextlib import contextmanager
from pathlib import Path


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
        layer = f"layer '{self.layer}': " if self.layer else ""
        text = f"{where}{layer}{self.message}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


class LayerError(SpecError):
    """Raised by a layer's arithmetic; the analyzer adds the file, line and layer name."""


class MissingExtra(SpecError):
    """An optional dependency is not installed; the message names the pip command that adds it."""

    def __init__(self, package, extra, purpose):
        super().__init__(f"{purpose} needs {package}, which is not installed",
                         hint=f"pip install 'archcalc[{extra}]'  (or: pip install {package})")


@contextmanager
def writing(path):
    """Around a write to `path`: a missing folder, a denied permission or a full disk becomes a SpecError."""
    try:
        yield
    except OSError as err:
        raise SpecError(f"cannot write '{path}': {err.strerror or err}",
                        hint="check that the folder exists and that you may write there") from None


def read_text(path, what):
    """The text of a file the user named (`what`: spec, answers, matrix); a file that is missing, unreadable
    or not UTF-8 text becomes a SpecError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"cannot read the {what}: byte {err.start + 1} is not UTF-8 text", file=str(path),
                        hint=f"the {what} must be a text file; is this the right file?") from None
    except OSError as err:
        raise SpecError(f"cannot read the {what}: {err.strerror or err}", file=str(path),
                        hint="check the path and that you may read the file") from None
