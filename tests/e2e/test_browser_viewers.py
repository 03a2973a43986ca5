"""The viewers in a real browser, against a real server, on files of the server's own
machine (`local`): a double click in the file browser opens each type in its viewer:
images (PNG, SVG) with zoom, a PDF drawn by pdf.js, a log that is followed while it
grows, a CSV as a table, JSON as a tree, Markdown rendered without its script, HTML in
a sandbox where its script does not run, and a binary file offered for download.

Screenshots go to test-results/ to be looked at.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.files_ui import file_row, log_in_as_admin, open_files
from tests.support.labgate_api import labgate_server
from tests.support.server import RunningServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for viewers"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"viewers-{name}.png")


def png(width: int, height: int) -> bytes:
    """An RGB PNG: a colour gradient (so that the picture can be seen in the screenshot)."""
    rows = b"".join(
        b"\0" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def pdf(pages: list[str]) -> bytes:
    """A small valid PDF, one line of Helvetica text per page."""
    count = len(pages)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
        + b"] /Count %d >>" % count,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        stream = b"BT /F1 28 Tf 72 700 Td (" + text.encode() + b") Tj ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_files(folder: Path) -> None:
    folder.mkdir()
    (folder / "plot.png").write_bytes(png(320, 200))
    (folder / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120">'
        '<circle cx="60" cy="60" r="50" fill="teal"/>'
        "<script>document.title='svg ran'</script></svg>"
    )
    (folder / "paper.pdf").write_bytes(pdf(["Hello from page one", "And page two"]))
    (folder / "run.log").write_text("".join(f"step {i}: ok\n" for i in range(50)))
    (folder / "table.csv").write_text(
        'name,value,note\nalpha,1,"with, comma"\nbeta,2,"two\nlines"\n'
        + "".join(f"row{i},{i},plain\n" for i in range(3, 5000))
    )
    (folder / "config.json").write_text(
        '{"name": "scan", "runs": [1, 2, 3], "nested": {"deep": {"deeper": true}}, "none": null}'
    )
    (folder / "README.md").write_text(
        "# Results\n\nSome **bold** text and a [link](https://example.org).\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>document.title='md ran'</script>\n\n"
        "![the plot](plot.png)\n"
    )
    (folder / "report.html").write_text(
        "<!doctype html><html><body><h1 id='t'>Report</h1><p>Generated.</p>"
        "<script>document.getElementById('t').textContent='script ran';"
        "fetch('/api/v1/users/me').then(()=>{parent.document.title='leaked'})</script>"
        "</body></html>"
    )
    (folder / "blob.xyz").write_bytes(b"\x00\x01\x02binary\xff" * 100)
    (folder / "LICENSE").write_text("Permission is hereby granted, free of charge.\n")


async def open_viewer(page: Page, pane: Locator, name: str, viewer: str) -> Locator:
    await file_row(pane, name).dblclick()
    shown = page.locator(f"[data-testid=viewer-pane][data-viewer={viewer}]:visible")
    await expect(shown).to_be_visible()
    await expect(shown.get_by_test_id("viewer-name")).to_have_text(name)
    return shown


async def back_to_files(page: Page, pane_title: str) -> None:
    await page.locator(".dv-tab", has_text=pane_title).first.click()


async def test_each_viewer(server: RunningServer, tmp_path: Path) -> None:
    folder = tmp_path / "viewers"
    make_files(folder)
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url
        )
        page = await context.new_page()
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
        pane = await open_files(page, "local", folder)
        await page.screenshot(path=shot("00-folder"))
        title = "viewers — local"

        viewer = await open_viewer(page, pane, "plot.png", "image")
        image = viewer.get_by_test_id("image-viewer-img")
        await expect(viewer.get_by_test_id("image-size")).to_have_text("320 \u00d7 200 px")
        await viewer.get_by_test_id("image-zoom-in").click()
        await expect(viewer.get_by_test_id("image-zoom")).to_have_text("125 %")
        assert (await image.bounding_box() or {"width": 0})["width"] == pytest.approx(400, abs=1)
        await page.screenshot(path=shot("01-image"))

        await back_to_files(page, title)
        viewer = await open_viewer(page, pane, "logo.svg", "image")
        await expect(viewer.get_by_test_id("image-size")).to_have_text("120 \u00d7 120 px")
        assert await page.title() != "svg ran"

        await back_to_files(page, title)
        viewer = await open_viewer(page, pane, "paper.pdf", "pdf")
        await expect(viewer.get_by_test_id("pdf-pages")).to_have_text("2 pages")
        await expect(
            viewer.locator("[data-testid=pdf-page][data-rendered=true]").first
        ).to_be_visible(timeout=20_000)
        await page.screenshot(path=shot("02-pdf"))

        await back_to_files(page, title)
        viewer = await open_viewer(page, pane, "run.log", "text")
        text = viewer.get_by_test_id("text-content")
        await expect(text).to_contain_text("step 49: ok")
        await viewer.get_by_test_id("text-follow").click()
        await expect(viewer.get_by_test_id("text-viewer")).to_have_attribute(
            "data-following", "true"
        )
        with (folder / "run.log").open("a") as log:
            log.write("step 50: the log grew\n")
        await expect(text).to_contain_text("step 50: the log grew", timeout=15_000)
        await page.screenshot(path=shot("03-log-follow"))
        await viewer.get_by_test_id("text-follow").click()

        await back_to_files(page, title)
        viewer = await open_viewer(page, pane, "table.csv", "table")
        await expect(viewer.get_by_test_id("table-summary")).to_have_text("4,999 rows · 3 columns")
        await expect(viewer.get_by_test_id("table-header-cell")).to_have_text(
            ["name", "value", "note"]
        )
        await expect(viewer.get_by_test_id("table-row").first).to_contain_text("with, comma")
        assert await viewer.get_by_test_id("table-row").count() < 200
        await page.screenshot(path=shot("04-csv"))

        await back_to_files(page, title)
        viewer = await open_viewer(page, pane, "config.json", "json")
        await expect(viewer.get_by_test_id("json-viewer")).to_contain_text('"scan"')
        await expect(viewer.get_by_test_id("json-viewer")).not_to_contain_text("deeper")
        tree = viewer.get_by_test_id("json-viewer")
        nested = viewer.locator("[data-testid=json-node]", has_text='"nested"').last
        await nested.get_by_test_id("json-toggle").first.click()  # two levels open: fold
        await expect(tree).not_to_contain_text('"deep"')
        await nested.get_by_test_id("json-toggle").first.click()
        deep = viewer.locator("[data-testid=json-node]", has_text='"deep"').last
        await deep.get_by_test_id("json-toggle").first.click()
        await expect(tree).to_contain_text("deeper")
        await page.screenshot(path=shot("05-json"))

        await back_to_files(page, title)
        viewer = await open_viewer(page, pane, "README.md", "markdown")
        body = viewer.get_by_test_id("markdown-viewer")
        await expect(body.locator("h1")).to_have_text("Results")
        await expect(body.locator("table td").first).to_have_text("1")
        await expect(body.locator("a[href='https://example.org']")).to_have_attribute(
            "rel", "noopener noreferrer"
        )
        assert await body.locator("script").count() == 0
        await expect(body.locator("img")).to_have_js_property("naturalWidth", 320)
        await page.screenshot(path=shot("06-markdown"))

        await back_to_files(page, title)
        viewer = await open_viewer(page, pane, "report.html", "html")
        frame = viewer.get_by_test_id("html-frame")
        await expect(frame).to_have_attribute("sandbox", "")
        inside = page.frame_locator("[data-testid=html-frame]:visible")
        await expect(inside.locator("h1")).to_have_text("Report")
        await expect(inside.locator("p")).to_have_text("Generated.")
        assert await page.title() != "leaked"
        await page.screenshot(path=shot("07-html"))

        await back_to_files(page, title)
        # No extension that says: the first KiB is looked at (a NUL: binary).
        viewer = await open_viewer(page, pane, "blob.xyz", "binary")
        await expect(viewer.get_by_test_id("viewer-binary")).to_contain_text("binary file")
        async with page.expect_download() as download:
            await viewer.get_by_test_id("viewer-binary-download").click()
        saved = await (await download.value).path()
        assert Path(saved).read_bytes() == (folder / "blob.xyz").read_bytes()
        await page.screenshot(path=shot("08-binary"))

        await back_to_files(page, title)
        viewer = await open_viewer(page, pane, "LICENSE", "text")
        await expect(viewer.get_by_test_id("text-content")).to_contain_text("free of charge")

        await page.emulate_media(color_scheme="dark")
        await back_to_files(page, title)
        await open_viewer(page, pane, "README.md", "markdown")
        await page.screenshot(path=shot("09-markdown-dark"))
        await context.close()
