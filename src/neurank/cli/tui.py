"""Interactive terminal search (Textual): `neurank search DIR` without a query."""

from __future__ import annotations

import threading
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Static

from neurank.errors import NeurankError
from neurank.search.modes import retrievers_of
from neurank.search.pipeline import Hit, SearchPipeline
from neurank.search.snippets import snippet

SIGNAL_STYLES = {"bm25": "bold dark_orange", "dense": "bold dark_cyan", "fused": "bold magenta"}


def marked(text: str, spans: list[tuple[int, int]], style: str = "") -> Text:
    """`text` with the given spans (query terms as BM25 matches them) in bold yellow."""
    out = Text(text, style=style)
    for start, end in spans:
        out.stylize("bold yellow", start, end)
    return out


class SearchApp(App[None]):
    """Type a query, Enter to search; F2 cycles the modes (bm25/dense/hybrid, and learned
    when the collection has a ranker); arrows pick a hit."""

    TITLE = "neurank search"
    CSS = """
    #bar { height: 3; }
    #query { width: 1fr; }
    #mode { width: 26; content-align: center middle; height: 3; }
    #hits { height: 1fr; }
    #detail { height: 8; border: round $accent; padding: 0 1; }
    #status { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "cycle_mode", "Mode"),
        Binding("escape", "focus_query", "Query", show=False),
        # from the query box too: the table's own bindings answer when it has the focus
        Binding("down", "move_hit(1)", "Next hit", show=False),
        Binding("up", "move_hit(-1)", "Previous hit", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, pipeline: SearchPipeline, *, k: int = 10, mode: str = "hybrid") -> None:
        super().__init__()
        retrievers_of(mode)
        self.pipeline = pipeline
        self.modes = pipeline.modes()
        if mode not in self.modes:
            raise NeurankError(f"{pipeline.collection.folder} has no learned ranker: train one "
                               "with `neurank ranker train`")
        self.k = k
        self.mode = mode
        self.query = ""
        self.hits: list[Hit] = []
        self._model_ready = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="bar"):
            yield Input(placeholder="Search… (Enter)", id="query")
            yield Static(id="mode")
        yield DataTable(id="hits", cursor_type="row", zebra_stripes=True)
        yield Static(id="detail")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        folder = self.pipeline.collection.folder
        self.sub_title = f"{folder} · {len(self.pipeline.collection)} documents"
        self._show_mode()
        self.query_one("#query", Input).focus()
        self._show_status("loading the model…")
        self.warm_up()

    @work(thread=True, group="warm-up")
    def warm_up(self) -> None:
        """Loads the encoder while the user types, so the first search is not the slow one."""
        try:
            self.pipeline.collection.encode_queries(["warm up"])
        finally:
            self._model_ready.set()
        if not self.query:
            self.call_from_thread(self._show_status, "ready: type a query and press Enter")

    def _show_mode(self) -> None:
        text = Text()
        for name in self.modes:
            style = "reverse bold" if name == self.mode else "dim"
            text.append(f" {name} ", style=style)
        self.query_one("#mode", Static).update(text)

    def action_cycle_mode(self) -> None:
        self.mode = self.modes[(self.modes.index(self.mode) + 1) % len(self.modes)]
        self._show_mode()
        if self.query:
            self.run_search(self.query)

    def action_move_hit(self, step: int) -> None:
        table = self.query_one("#hits", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def action_focus_query(self) -> None:
        self.query_one("#query", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.query = event.value.strip()
            self._show_status(f"searching {self.query!r} ({self.mode})…")
            self.run_search(self.query)

    @work(thread=True, exclusive=True)
    def run_search(self, query: str) -> None:
        """Searches off the UI thread; a newer search cancels the display of an older one."""
        mode = self.mode
        self._model_ready.wait()  # the model loads once, in warm_up, never twice at the same time
        try:
            hits = self.pipeline.search(query, k=self.k, mode=mode)  # type: ignore[arg-type]
        except NeurankError as exc:
            self.call_from_thread(self._show_status, Text(f"error: {exc}", style="bold red"))
            return
        self.call_from_thread(self._show_hits, query, mode, hits)

    def _show_status(self, text: Text | str) -> None:
        self.query_one("#status", Static).update(text)

    def _show_hits(self, query: str, mode: str, hits: list[Hit]) -> None:
        self.hits = hits
        table = self.query_one("#hits", DataTable)
        table.clear(columns=True)
        signals = list(hits[0].scores) if hits else []
        table.add_column("#", key="rank")
        table.add_column("id", key="id")
        table.add_column("title", key="title")
        for signal in signals:
            table.add_column(Text(signal, style=SIGNAL_STYLES.get(signal, "bold")), key=signal)
        for hit in hits:
            title = (hit.title or hit.text)[:70]
            table.add_row(str(hit.rank), hit.id, marked(title, self._spans(title, query)),
                          *[Text(f"{hit.scores[s]:.3f}", style=SIGNAL_STYLES.get(s, "bold"), justify="right")
                            for s in signals], key=hit.id)
        self._show_status(f"{len(hits)} hits · {mode} · {query!r}" if hits else
                          f"no hits for {query!r} ({mode})")
        self._show_detail(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    def _show_detail(self, index: int) -> None:
        detail = self.query_one("#detail", Static)
        if not 0 <= index < len(self.hits):
            detail.update("")
            return
        hit = self.hits[index]
        title = hit.title or hit.id
        text = marked(title, self._spans(title, self.query) if hit.title else [], "bold")
        text.append(f"  [{hit.id}]\n", style="dim")
        excerpt = snippet(hit.text, self.query, width=400)
        text.append_text(marked(excerpt, self._spans(excerpt, self.query)))
        detail.update(text)

    def _spans(self, text: str, query: str) -> list[tuple[int, int]]:
        analyzer = self.pipeline.collection.bm25.analyzer
        return analyzer.spans(text, set(analyzer(query)))
