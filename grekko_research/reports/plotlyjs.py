"""One copy of plotly.js per runs folder, shared by every page written into it.

plotly.js is 4.8 MB; embedding it in every tearsheet made it most of a run's size.
A page written with a shared copy loads ``plotly.min.js`` from its own folder, where
that name is a *hard link* to ``<runs folder>/plotly-<version>.min.js``: the bytes are
on disk once however many pages there are, and each folder still opens offline on its
own (copying or uploading the folder copies the file). Where hard links are not
possible (another file system), the file is copied instead. A new plotly version
writes a new shared file; older folders keep the one they link to.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from grekko_research._atomic import atomic_write_text

__all__ = ["PLOTLY_JS_NAME", "link_plotly_js", "plotly_script", "shared_plotly_js"]

PLOTLY_JS_NAME = "plotly.min.js"
"""The name a page's folder gives plotly.js."""


def shared_plotly_js(runs_dir: str | os.PathLike[str]) -> Path:
    """Return ``<runs_dir>/plotly-<version>.min.js``, writing it (atomically) if missing."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    path = Path(runs_dir) / f"plotly-{get_plotlyjs_version()}.min.js"
    if not path.is_file():
        atomic_write_text(path, get_plotlyjs())
    return path


def link_plotly_js(shared: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """Give ``folder`` a ``plotly.min.js``: a hard link to ``shared`` (a copy if linking fails)."""
    target = Path(folder) / PLOTLY_JS_NAME
    if target.exists():
        return target
    try:
        os.link(shared, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(shared, target)
    return target


def plotly_script() -> str:
    """The page's ``<script>`` loading the folder's plotly.js, and a note shown when it is absent.

    The note appears in a viewer that cannot reach the file (MLflow's artifact
    preview renders pages on their own; ``tearsheet.png`` shows there).
    """
    return (
        f'<script src="{PLOTLY_JS_NAME}" charset="utf-8"></script>\n'
        '<p id="grekko-no-plotly" class="note" hidden>The charts need plotly.js, which '
        f"this page loads from <code>{PLOTLY_JS_NAME}</code> in its own folder: open the "
        "page from its run folder (or download the whole folder); the PNG beside it shows "
        "the main panels.</p>\n"
        "<script>if (!window.Plotly) "
        "{ document.getElementById('grekko-no-plotly').hidden = false; }</script>\n"
    )
