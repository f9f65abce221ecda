"""Write the status API's OpenAPI document: the source of the web console's client types.

``python -m live.api.openapi_doc web/src/api/openapi.json`` (what ``make console`` runs);
``openapi-typescript`` then turns it into ``web/src/api/schema.ts``. A test compares the
committed document with the app's, so the console and the API cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["openapi_document"]


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (built over an empty log: routes do not depend on a run)."""
    from live.api import ApiTokens, FlagFileControl, LogHub, create_app

    with tempfile.TemporaryDirectory() as folder, LogHub(Path(folder) / "events.db") as hub:
        app = create_app(hub, FlagFileControl(folder), ApiTokens())
        return app.openapi()


def render(doc: dict[str, Any]) -> str:
    """The document as the committed file holds it (sorted keys: stable diffs)."""
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    text = render(openapi_document())
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
