"""Writing `-o FILE` for every command: the one place that decides whether a file may be replaced.

Rules (docs/limits.md states them for users):
- a file that exists is replaced only when archcalc wrote it, as the output of the same kind of command,
  and nobody changed it since (recorded by its SHA-256 in a small state file), or with `--force`;
- a file that is an input of the same command (the spec, the answers, a matrix) is never replaced;
- the text goes to a temporary file in the same folder, which is renamed over the target, so an
  interrupted run leaves the old file whole;
- a target that cannot be written (a missing folder, a path under a file, a name too long, a full disk)
  is one SpecError: the CLI prints it and exits with status 2.
Devices and pipes that already exist (/dev/null, /dev/stdout, a named pipe) are written in place.
"""
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path

from .errors import SpecError, writing
from .i18n import _

STATE_ENV = "ARCHCALC_STATE_DIR"      # where the record of written files lives (tests point it elsewhere)
MAX_RECORDS = 2000                    # the oldest records are dropped beyond this
MAX_HASHED_BYTES = 256 * 1024 * 1024  # a larger existing file is not hashed, so never taken for archcalc's own
# Outputs whose format has room for a comment: a file starting so was written by archcalc, on any machine.
MARKERS = {"from-torch": b"# Written by archcalc from-torch",
           "from-hf": b"# Written by archcalc from-hf"}


def state_file():
    base = os.environ.get(STATE_ENV)
    if not base:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "archcalc"
    return Path(base) / "outputs.json"


def write_output(path, content, *, kind, inputs=(), force=False):
    """Write `content` (str, bytes, or a function that writes a given path) to `path` under the rules
    above; `kind` names the command ("summarize", "plot"), `inputs` the files the command read."""
    target = Path(path)
    if str(path) in ("", "."):
        raise SpecError(_("-o needs a file name"), hint=_("e.g. -o out.txt"))
    existing = _stat(target)
    for source in inputs:
        if existing is not None and _same_file(target, source):
            raise SpecError(_("cannot write '{path}': it is an input of this command ({source}), and writing "
                              "there would destroy it").format(path=path, source=source),
                            hint=_("choose another name for -o (--force does not change this)"))
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise SpecError(_("cannot write '{path}': it is a folder").format(path=path),
                        hint=_("name a file inside it, e.g. -o out.txt"))
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with writing(path):                 # a device or a pipe: nothing to replace, write straight in
            _fill(target, content)
        return
    if existing is not None and not force and not is_own_output(target, kind):
        raise SpecError(_("'{path}' exists and was not written by `archcalc {kind}`; not replacing it").format(
            path=path, kind=kind), hint=_("choose another name, delete the file, or pass --force to replace it"))
    digest = _write_atomically(target, content, existing)
    _record(target, kind, digest)


def is_own_output(path, kind):
    """Whether `path` holds, unchanged, what `archcalc KIND` wrote there (or starts with KIND's marker)."""
    marker = MARKERS.get(kind)
    try:
        if marker:
            with open(path, "rb") as handle:
                if handle.read(len(marker)) == marker:
                    return True
        record = _records().get(str(Path(path).resolve()))
        if not record or record.get("kind") != kind:
            return False
        return _digest(path) == record.get("sha256")
    except (OSError, ValueError):
        return False


def _stat(path):
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _same_file(target, source):
    try:
        return os.path.samefile(target, source)
    except (OSError, ValueError, TypeError):
        return False


def _fill(path, content):
    if callable(content):
        content(str(path))
        return
    data = content.encode("utf-8") if isinstance(content, str) else content
    with open(path, "wb") as handle:
        handle.write(data)


def _write_atomically(target, content, existing):
    """Write through a temporary file beside `target` (same suffix, so image writers see the format)
    and rename it into place; the SHA-256 of what was written."""
    folder = target.parent if str(target.parent) else Path(".")
    with writing(target):
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name[:100]}.", suffix=f".tmp{target.suffix}")
        try:
            os.close(handle)
            _fill(temporary, content)
            mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_umask()
            os.chmod(temporary, mode)
            digest = _digest(temporary)
            os.replace(temporary, target)
        except SpecError as err:        # said of the temporary file: say it of the target
            err.message = err.message.replace(temporary, str(target))
            err.file = str(target) if err.file == temporary else err.file
            _remove(temporary)
            raise
        except BaseException:
            _remove(temporary)
            raise
    return digest


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _digest(path):
    if os.stat(path).st_size > MAX_HASHED_BYTES:
        return None
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def _records():
    try:
        data = json.loads(state_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record(target, kind, digest):
    """Remember what was written where; a state folder that cannot be written only costs the memory."""
    if digest is None:
        return
    records = _records()
    key = str(target.resolve())
    records.pop(key, None)
    records[key] = {"kind": kind, "sha256": digest}
    while len(records) > MAX_RECORDS:
        records.pop(next(iter(records)))
    path = state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".outputs.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(records, stream)
        os.replace(temporary, path)
    except OSError:
        pass
