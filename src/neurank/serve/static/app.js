// neurank web page: plain JS, no external assets. Text always goes in through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("neurank-api-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("neurank-api-key", keyInput.value));

async function call(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (keyInput.value) headers["x-api-key"] = keyInput.value;
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const retry = response.headers.get("retry-after");
    throw new Error((data.detail || response.statusText) + (retry ? ` (retry in ${retry} s)` : ""));
  }
  return data;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function highlighted(tag, className, text, spans) {
  // marks the [start, end) spans the server found (query terms as BM25 matches them),
  // building nodes rather than HTML strings
  const span = element(tag, className);
  let at = 0;
  for (const [start, end] of spans || []) {
    if (start < at) continue;
    span.appendChild(document.createTextNode(text.slice(at, start)));
    span.appendChild(element("mark", "", text.slice(start, end)));
    at = end;
  }
  span.appendChild(document.createTextNode(text.slice(at)));
  return span;
}

function setInfo(node, text, isError = false) {
  node.textContent = text;
  node.classList.toggle("error", isError);
}

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = $("query").value.trim();
  if (!query) return;
  const mode = document.querySelector("input[name=mode]:checked").value;
  const k = Number($("k").value);
  const list = $("results");
  // the address names the search, so a result list can be linked and reloaded
  history.replaceState(null, "", `?${new URLSearchParams({ q: query, mode })}`);
  setInfo($("search-info"), "searching…");
  try {
    const data = await call("POST", "/search", { query, mode, k });
    list.replaceChildren();
    for (const hit of data.hits) {
      const item = element("li", "hit");
      item.dataset.id = hit.id;
      const head = element("div");
      head.append(element("span", "rank", `${hit.rank}. `),
                  highlighted("span", "title", hit.title || hit.id,
                              hit.title ? (hit.highlights || {}).title : []),
                  element("span", "doc-id", hit.id));
      const scores = element("div", "scores");
      for (const [signal, value] of Object.entries(hit.scores)) {
        scores.append(element("span", `score ${signal}`, `${signal} ${value.toFixed(3)}`));
      }
      item.append(head, highlighted("p", "snippet", hit.snippet, (hit.highlights || {}).snippet), scores);
      list.append(item);
    }
    setInfo($("search-info"),
      `${data.hits.length} hits · ${data.mode} · ${data.took_ms.toFixed(1)} ms`);
  } catch (error) {
    list.replaceChildren();
    setInfo($("search-info"), error.message, true);
  }
});

$("recommend-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = $("user").value.trim();
  if (!user) return;
  const list = $("recommendations");
  try {
    const data = await call("POST", "/recommend", { user, k: 10 });
    list.replaceChildren();
    for (const entry of data.items) {
      const item = element("li", "rec");
      const title = entry.fields && entry.fields.title ? `${entry.fields.title} (${entry.item})` : entry.item;
      item.append(element("span", "item", title), element("span", "score-text", entry.score.toFixed(3)));
      list.append(item);
    }
    setInfo($("recommend-info"), data.cold_start
      ? `unknown user ${data.user}: popular items (cold start)` : `for user ${data.user}`);
    $("recommend-info").classList.toggle("cold", data.cold_start);
  } catch (error) {
    list.replaceChildren();
    setInfo($("recommend-info"), error.message, true);
  }
});

call("GET", "/health").then((health) => {
  const status = $("status");
  status.textContent = `${health.documents ?? "?"} documents` +
    (health.recommender ? " · recommender" : "");
  status.className = "status ok";
  if (!health.recommender) $("recommend-panel").hidden = true;
  if (!health.collection) $("search-panel").hidden = true;
}).catch(() => { $("status").textContent = "server unreachable"; $("status").className = "status down"; });

// a linked search (/?q=...&mode=...) runs on load
const linked = new URLSearchParams(location.search);
if (linked.get("q")) {
  $("query").value = linked.get("q");
  const mode = document.querySelector(`input[name=mode][value="${CSS.escape(linked.get("mode") || "")}"]`);
  if (mode) mode.checked = true;
  $("search-form").requestSubmit();
}
