"""labgate's own file viewers, a plug-in like any other (``register_file_viewers``).

Which files each opens is the front end's table in
``frontend/src/panes/viewer/viewerChoice.ts`` (``BY_EXTENSION``); ``component`` names the
component in ``frontend/src/panes/viewer/``. What opens in the editor, and what is
offered for download as binary, stays the front end's own rule.
"""

from __future__ import annotations

from labgate.plugins import hookimpl
from labgate.plugins.front_end import FileViewer

VIEWERS = (
    FileViewer(
        "image",
        "Image",
        "ImageViewer",
        extensions=("png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "bmp", "ico"),
    ),
    FileViewer("pdf", "PDF", "PdfViewer", extensions=("pdf",)),
    FileViewer("table", "Table", "TableViewer", extensions=("csv", "tsv", "tab")),
    FileViewer("json", "JSON", "JsonViewer", extensions=("json", "geojson", "ipynb")),
    FileViewer("markdown", "Markdown", "MarkdownViewer", extensions=("md", "markdown")),
    FileViewer("html", "HTML", "HtmlViewer", extensions=("html", "htm")),
    FileViewer("text", "Text", "TextViewer", extensions=("log", "txt", "out", "err", "text")),
)


@hookimpl
def register_file_viewers() -> list[FileViewer]:
    return list(VIEWERS)
