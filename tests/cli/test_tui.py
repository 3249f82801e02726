"""The interactive terminal search, driven headless by Textual's pilot."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Static

from neurank.cli.tui import SearchApp
from neurank.search.pipeline import SearchPipeline

QUERY = "weather observations"


def _ids(app: SearchApp) -> list[str]:
    table = app.query_one("#hits", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def test_typing_searching_and_switching_modes(sample_collection):
    pipeline = SearchPipeline(sample_collection)
    app = SearchApp(pipeline, k=5)

    async def drive() -> dict:
        seen = {}
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press(*QUERY, "enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            seen["hybrid"] = _ids(app)
            seen["columns"] = [str(c.label) for c in app.query_one("#hits", DataTable)
                               .columns.values()]
            seen["detail"] = str(app.query_one("#detail", Static).render())
            await pilot.press("f2")  # hybrid -> bm25
            await app.workers.wait_for_complete()
            await pilot.pause()
            seen["mode"] = app.mode
            seen["bm25"] = _ids(app)
            seen["status"] = str(app.query_one("#status", Static).render())
            await pilot.press("down")  # from the query box: the second hit
            await pilot.pause()
            seen["detail2"] = str(app.query_one("#detail", Static).render())
            seen["focus"] = app.focused.id if app.focused else None
        return seen

    seen = asyncio.run(drive())
    assert seen["hybrid"] == [h.id for h in pipeline.search(QUERY, k=5, mode="hybrid")]
    assert seen["columns"] == ["#", "id", "title", "bm25", "dense", "fused"]
    first = pipeline.search(QUERY, k=5, mode="hybrid")[0]
    assert first.title in seen["detail"]
    assert seen["mode"] == "bm25"
    assert seen["bm25"] == [h.id for h in pipeline.search(QUERY, k=5, mode="bm25")]
    assert "bm25" in seen["status"] and str(len(seen["bm25"])) in seen["status"]
    second = pipeline.search(QUERY, k=5, mode="bm25")[1]
    assert second.id in seen["detail2"]
    assert seen["focus"] == "query"  # arrows work without tabbing away from the query


def test_no_hits_and_no_terminal(sample_collection, neurank):
    app = SearchApp(SearchPipeline(sample_collection), mode="bm25")

    async def drive() -> str:
        async with app.run_test() as pilot:
            await pilot.press(*"zzzqqq", "enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            return str(app.query_one("#status", Static).render())

    assert "no hits" in asyncio.run(drive())
    result = neurank("search", sample_collection.folder, check=False)
    assert result.returncode == 2 and "interactive" in result.stderr
