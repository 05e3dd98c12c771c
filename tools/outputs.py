"""Writing output files: only the files the tool owns, inside the folder it was given.

Every command that writes a file goes through here, because names from input
(a property, a scenario, a mutant) become file names, and the folder given
may already hold files or symlinks the tool did not make:

- ``safe_name`` turns any name into one file name component (never a path,
  never hidden, never empty);
- ``write_file`` writes a temporary file in the target's folder and renames
  it over the target, so a reader never sees half a file, a failure leaves
  nothing behind, and an existing symlink at the target is replaced, never
  followed; the mode follows the umask like any other file the user makes;
- ``write_files`` does the same for a set of files inside one folder
  (``generate --out``): every temporary file is written before any is
  renamed, and the folder itself is never replaced.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from tcpcheck.model.errors import InputError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_NAME = 200  # bytes: well under NAME_MAX (255) with a suffix and a temporary prefix


def safe_name(name: str, suffix: str = "") -> str:
    """``name`` as one file name: letters, digits, '_', '.' and '-' only, no
    leading dot, at most ``MAX_NAME`` characters, then ``suffix``."""
    base = _UNSAFE.sub("_", name).strip("_.")[:MAX_NAME].rstrip("_.") or "unnamed"
    return base + suffix


def url_path(path: str) -> str:
    """A relative file path as an ASCII URL path for an ``href``: each
    component percent-encoded from its bytes, so a file name that is not
    UTF-8 (which Python holds as lone surrogates, which no UTF-8 page can
    carry) still links to its file."""
    from urllib.parse import quote

    return quote(os.fsencode(path), safe="/")


def _mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _check_folder(folder: Path, shown: str) -> None:
    if folder.is_symlink() and not folder.is_dir():
        raise InputError(shown, "the folder is a dangling symlink; pass a real folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(shown, "exists and is not a folder; pass a folder") from None
    except OSError as exc:
        raise InputError(shown, f"cannot make the folder ({exc.strerror})") from None


def _temp_beside(target: Path, payload: bytes) -> str:
    """A temporary file holding ``payload`` in ``target``'s folder; its name."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tcpcheck-", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(str(target), f"cannot write here ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, _mode())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(str(target), f"cannot write here ({exc.strerror})") from None
        raise
    return tmp


def write_file(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` at ``path`` whole or not at all (see the module's docstring)."""
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise InputError(str(path), "names a folder; pass a file name")
    _check_folder(target.parent if str(target.parent) else Path("."), str(target.parent))
    if target.is_dir() and not target.is_symlink():
        raise InputError(str(path), "is a folder; pass a file name")
    try:
        raw = data.encode() if isinstance(data, str) else data
    except UnicodeEncodeError:  # a lone surrogate: a name that is not UTF-8 reached text unescaped
        raise InputError(str(path), "the output would hold a file name that is not UTF-8; rename the file "
                                    "(nothing was written)") from None
    tmp = _temp_beside(target, raw)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(str(target), f"cannot write here ({exc.strerror})") from None
    return target


def write_files(folder: str | Path, files: Mapping[str, str | bytes], remove: Iterable[str] = ()) -> None:
    """Write ``files`` (relative path -> content) inside ``folder`` and remove
    the relative paths in ``remove``; nothing else in the folder is touched.

    A relative path must stay inside the folder and may not pass through a
    symlink; all temporary files are written before the first rename, so a
    full disk or a permission error leaves the folder as it was."""
    root = Path(folder)
    _check_folder(root, str(folder))
    staged: list[tuple[str, Path]] = []
    try:
        for rel, text in files.items():
            target = _inside(root, rel)
            _check_folder(target.parent, str(target.parent))
            staged.append((_temp_beside(target, text.encode() if isinstance(text, str) else text), target))
        for rel in remove:
            target = _inside(root, rel)
            if target.is_symlink() or target.is_file():
                target.unlink()
        while staged:
            tmp, target = staged.pop(0)
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def _inside(root: Path, rel: str) -> Path:
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise InputError(rel, "not a plain relative path inside the output folder")
    here = root
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise InputError(str(here), "is a symlink the tool did not make; remove it or pass another folder")
    return root.joinpath(*parts)
