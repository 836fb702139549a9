"""`cviscript rehearse --html`: the self-contained HTML report, checked as HTML and in Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
import tools
from click.testing import CliRunner
from helpers import CID, ev, replica_says, started, user_says
from hypothesis import given, settings
from hypothesis import strategies as st

from cviscript.cli.main import cli
from cviscript.language.validate import load_scenario
from cviscript.rehearsal.excerpt import records_from_json
from cviscript.rehearsal.suite import run_suite
from cviscript.report.html import render_html, write_html
from cviscript.report.svg_diagram import render_diagram
from cviscript.report.svg_graph import ANY, NODE_H, Edge, Graph, scenario_graph
from cviscript.report.svg_layout import layout
from cviscript.report.svg_timeline import render_timeline, timeline_from_records

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"

BROKEN = """\
cviscript: 1
name: broken-greeter
initial: greet
states:
  greet:
    enter:
      - echo: "Hello <b>there</b> & welcome!"
    on:
      - utterance: {match: "(?i)bye"}
        goto: done
      - after: 20s
        goto: done
  done:
    enter:
      - echo: "Bye."
    final: true
rehearsals:
  - name: visitor types a script tag
    user:
      - on: {event: replica.stopped_speaking}
        say: "<script>alert('x')</script> bye"
    expect:
      path: [greet, done]
  - name: expects the <wrong> path
    user:
      - on: {event: replica.stopped_speaking}
        say: "<script>alert('x')</script> bye"
    expect:
      path: [greet, greet, done]
      said: ["nothing like this"]
"""


# ------------------------------------------------------------------------- a tiny DOM to query


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text_parts: list[str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(self.text_parts) + "".join(c.text() for c in self.children)

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str = "", **attrs: str) -> list[Node]:
        want = set(cls.split())
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and want <= n.classes
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, cls: str = "", **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls!r} {attrs}>"
        return found[0]


VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        assert n is not None, f"stray </{tag}>"
        self.cur = n.parent or self.root

    def handle_data(self, data):
        self.cur.text_parts.append(data)


def parse(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root


# --------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    (folder / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    return run_suite([str(SCENARIOS), str(folder)], keep_traces="all", coverage=True)


@pytest.fixture(scope="module")
def html(suite) -> str:
    return render_html(suite)


@pytest.fixture(scope="module")
def dom(html) -> Node:
    return parse(html)


def section(dom: Node, case_name: str) -> Node:
    for node in dom.find_all("details", "case"):
        if node.attrs["data-case"].endswith("::" + case_name):
            return node
    raise AssertionError(f"no section for {case_name!r}")


# ------------------------------------------------------------------------------------ the page


def test_every_case_has_a_section_with_its_verdict(suite, dom):
    sections = dom.find_all("details", "case")
    shown = sorted(suite.cases, key=lambda c: c.passed)  # failures first
    assert [s.attrs["data-case"] for s in sections] == [c.id for c in shown]
    assert len(suite.cases) == 14
    for case, sec in zip(shown, sections, strict=True):
        assert ("fail" in sec.classes) == (not case.passed)
        badge = sec.find("summary").find("span", "badge")
        assert badge.text() == ("PASS" if case.passed else "FAIL")
        # every run kept its trace: each case has its timeline, its diagram and its transcript
        assert sec.find_all("svg", "timeline") and sec.find_all("svg", "diagram")
        assert sec.find_all("details", "transcript")
    header = dom.find("header", "top")
    assert "13 passed" in header.text() and "1 failed" in header.text()
    assert "cviscript" in header.text() and "generated" in header.text()
    index_links = [a.attrs["href"] for a in dom.find("nav", "index").find_all("a")]
    assert index_links == [f"#{s.attrs['id']}" for s in sections]


def test_timeline_shows_speech_interruptions_sent_markers_and_states(dom):
    sec = section(dom, "visitor cuts in during the tour")
    tl = sec.find("svg", "timeline")
    replica = tl.find_all("g", "speech replica")
    user = tl.find_all("g", "speech user")
    assert len(replica) == 6 and len(user) == 2
    cut = tl.find_all("g", "speech replica interrupted")
    assert len(cut) == 1 and "With Acme Cloud you deploy" in cut[0].find("title").text()
    assert "Kubernetes" in user[0].find("title").text()
    kinds = [next(iter(m.classes - {"sent-marker"})) for m in tl.find_all("g", "sent-marker")]
    # sensitivity is sent as one message per key
    assert kinds == ["sensitivity", "sensitivity"] + ["echo"] * 2 + ["interrupt"] + ["echo"] * 4
    states = [g.attrs["data-state"] for g in tl.find_all("g", "state-span")]
    assert states == [
        "intro",
        "tour_deploy",
        "take_over",
        "answer",
        "questions",
        "pricing",
        "wrap_up",
    ]
    assert len(tl.find_all("line", "state-change")) == len(states)
    assert tl.find_all("g", "outcome ok")
    assert [t.text() for t in tl.find_all("text", "tick-label")][:3] == ["0s", "5s", "10s"]


def test_diagram_highlights_the_visited_states_and_the_transitions_taken(dom):
    sec = section(dom, "visitor cuts in during the tour")
    svg = sec.find("svg", "diagram")
    visited = {g.attrs["data-state"] for g in svg.find_all("g", "state visited")}
    assert visited == {
        "intro",
        "tour_deploy",
        "take_over",
        "answer",
        "questions",
        "pricing",
        "wrap_up",
    }
    every = {g.attrs.get("data-state") for g in svg.find_all("g", "state")}
    assert "tour_scale" in every and "tour_scale" not in visited
    assert svg.find("g", "state end", data_state="wrap_up")
    assert "final" in svg.find("g", "state", data_state="wrap_up").classes
    taken = {p.attrs["data-id"] for p in svg.find_all("path", "edge taken")}
    assert taken == {
        "intro.on[0]",
        "tour_deploy.on[0]",
        "take_over.on[0]",
        "answer.on[0]",
        "questions.on[0]",
        "pricing.on[0]",
    }
    assert "taken" not in svg.find("path", "edge", data_id="tour_deploy.on[1]").classes
    assert svg.find("g", "state any")  # the `any:` transitions leave a pseudo-state
    assert "taken" not in svg.find("path", "edge from-any", data_id="any[0]").classes
    # questions re-enters itself: a loop, taken twice in the silent-visitor case
    silent = section(dom, "silent visitor gets two re-prompts").find("svg", "diagram")
    loop = silent.find("path", "edge loop taken", data_id="questions.on[1]")
    assert "taken 2×" in loop.find("title").text()
    assert (
        silent.find("g", "state visited", data_state="questions").find("g", "count").text() == "3"
    )


def test_failures_show_their_expectations_and_transcript_excerpts(dom):
    sec = section(dom, "expects the <wrong> path")
    failures = sec.find("section", "failures").find_all("div", "failure")
    assert [f.attrs["data-code"] for f in failures] == ["path-mismatch", "said-missing"]
    path = failures[0]
    assert "greet → greet → done" in path.find("table", "expected").text()
    excerpt = path.find("pre", "excerpt")
    assert "── done" in excerpt.find("span", "focus").text()
    assert "user: \"<script>alert('x')</script> bye\"" in excerpt.text()
    assert "broken.yaml:" in path.find("span", "loc").text()
    # a failing case's end state is marked as such
    assert sec.find("svg", "diagram").find("g", "state end failed", data_state="done")
    assert not section(dom, "visitor types a script tag").find_all("section", "failures")


def test_everything_from_a_run_is_escaped(html, dom):
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<b>there</b>" not in html and "<wrong>" not in html
    assert len(dom.find_all("script")) == 2  # the report's own two
    assert all(b.text() != "there" for b in dom.find_all("b"))  # no markup from the transcript
    user_bar = section(dom, "visitor types a script tag").find("g", "speech user")
    assert "<script>alert('x')</script> bye" in user_bar.find("title").text()


def test_the_page_fetches_nothing(html, dom):
    for node in dom.iter():
        for attr in ("src", "href", "xlink:href", "action", "poster", "data"):
            value = node.attrs.get(attr)
            assert value is None or value.startswith("#"), f"<{node.tag} {attr}={value!r}>"
    assert not re.search(r"url\(\s*['\"]?(?!#)", html), "a url() that is not a fragment"
    assert "@import" not in html
    csp = dom.find("meta", http_equiv="Content-Security-Policy").attrs["content"]
    assert "default-src 'none'" in csp


def test_a_case_without_a_kept_trace_still_gets_its_verdict_and_diagram():
    suite = run_suite([str(SCENARIOS / "kiosk.yaml")], patterns=["courier"], keep_traces="none")
    sec = parse(render_html(suite)).find("details", "case")
    assert not sec.find_all("svg", "timeline")
    assert "No transcript was kept" in sec.find("section", "timeline-box").text()
    assert sec.find_all("svg", "diagram")


def test_timeline_from_hand_made_records():
    raw = [
        {"t": 0.0, "kind": "header", "conversation_id": CID},
        {"t": 0.0, "kind": "state", "state": "a", "via": "initial"},
        {"t": 0.5, "kind": "received", "message": started(1)},
        {"t": 0.5, "kind": "received", "message": replica_says("Hello", 2)},
        # the legacy interruption event ends the turn
        {"t": 1.5, "kind": "received", "message": ev("conversation.replica_interrupted", 3)},
        {"t": 2.0, "kind": "received", "message": user_says("no speaking events", 4)},
        {
            "t": 2.5,
            "kind": "received",
            "message": ev("conversation.tool_call", 5, name="lookup", arguments='{"x": 1}'),
        },
        {"t": 3.0, "kind": "dropped", "message": {}, "reason": "malformed"},
        {"t": 3.0, "kind": "state", "state": "b", "via": "a.on[0]"},
        {"t": 4.0, "kind": "received", "message": started(6)},  # still speaking at the end
        {"t": 5.0, "kind": "outcome", "outcome": "timed_out", "reason": "t", "duration": 5.0},
    ]
    for r in raw:
        r.setdefault("ts", 0.0)
    tl = timeline_from_records(records_from_json(raw))
    bars = [(b.role, b.start, b.end, b.text, b.interrupted) for b in tl.bars]
    assert bars == [
        ("replica", 0.5, 1.5, "Hello", True),
        ("user", 2.0, 2.0, "no speaking events", False),
        ("replica", 4.0, None, "", False),
    ]
    assert [m.kind for m in tl.received] == ["tool_call", "dropped"]
    assert [(s.state, s.start) for s in tl.states] == [("a", 0.0), ("b", 3.0)]
    assert (tl.outcome, tl.duration) == ("timed_out", 5.0)


@pytest.mark.parametrize("name", ["kiosk", "product-demo", "survey"])
def test_diagram_layout_keeps_states_and_labels_apart(name):
    graph = scenario_graph(load_scenario(str(SCENARIOS / f"{name}.yaml")))
    lay = layout(graph)
    boxes = []
    for it in lay.items.values():
        if it.kind in ("state", "any", "label"):
            y = lay.rank_y[it.rank]
            boxes.append((it.key, it.x - it.left, it.x + it.right, y - 9, y + 9))
    for i, a in enumerate(boxes):
        assert a[1] >= 0 and a[2] <= lay.width and a[4] <= lay.height
        for b in boxes[i + 1 :]:
            overlap = a[1] < b[2] and b[1] < a[2] and a[3] < b[4] and b[3] < a[4]
            assert not overlap, f"{a[0]!r} overlaps {b[0]!r}"
    states = [it for it in lay.items.values() if it.kind == "state"]
    assert {it.key for it in states} == set(graph.states)
    initial = lay.items[graph.initial]
    assert initial.rank == min(it.rank for it in states)


def test_rehearse_html_option_writes_the_report(tmp_path):
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(cli, ["rehearse", str(SCENARIOS), "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert f"html: {out}" in result.output
    dom = parse(out.read_text(encoding="utf-8"))
    sections = dom.find_all("details", "case")
    assert len(sections) == 12
    # --html keeps the transcripts of passing runs too: every case has its timeline
    assert all(s.find_all("svg", "timeline") for s in sections)


# ----------------------------------------------------------------------------- in a real browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _headless(binary: str, profile: Path, *args: str) -> subprocess.Popen[str]:
    """Start headless Chromium (its own profile, no network chatter); `.communicate()` it."""
    cmd = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str]) -> str:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, err[-2000:]
    return out


def _html_attrs(dumped: str) -> dict[str, str]:
    return parse(dumped).find("html").attrs


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = _chromium()
    if binary is None:
        tools.missing("Chromium is not installed (Debian: apt-get install chromium)")
    return binary


def test_report_loads_in_chromium_without_errors_and_renders(chromium, suite, tmp_path):
    page = tmp_path / "report.html"
    write_html(suite, page)
    # the harness must see errors: the same page with a script error and an external image
    broken = tmp_path / "broken.html"
    broken.write_text(
        page.read_text(encoding="utf-8").replace(
            "<footer>",
            '<img src="https://example.invalid/x.png"><script>nosuch();</script><footer>',
        ),
        encoding="utf-8",
    )
    shot = tmp_path / "report.png"
    # three browsers at once (each with its own profile): the test stays a few seconds long
    dump = _headless(chromium, tmp_path / "p1", "--dump-dom", page.as_uri())
    dump_bad = _headless(chromium, tmp_path / "p2", "--dump-dom", broken.as_uri())
    screenshot = _headless(
        chromium, tmp_path / "p3", f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()
    )
    dumped, dumped_bad = _finish(dump), _finish(dump_bad)
    _finish(screenshot)

    attrs = _html_attrs(dumped)
    assert attrs.get("data-ready") == "1", "the page's script did not run to the end"
    assert "data-errors" not in attrs, attrs.get("data-errors")
    live = parse(dumped)
    assert len(live.find_all("details", "case")) == len(suite.cases)
    assert len(live.find_all("svg", "timeline")) == len(suite.cases)
    assert len(live.find_all("svg", "diagram")) == len(suite.cases)
    buttons = [b.text() for b in live.find("p", "toolbar").find_all("button")]
    assert buttons == ["Expand all", "Collapse all", "Only failures"]

    bad = _html_attrs(dumped_bad)
    assert "nosuch" in bad.get("data-errors", "")
    assert "example.invalid" in bad.get("data-errors", "")

    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000, "the screenshot looks blank"


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 9))
    states = [f"s{i}" + "x" * draw(st.integers(0, 12)) for i in range(n)]
    edges = []
    sources = [*states, ANY] if draw(st.booleans()) else states
    for k in range(draw(st.integers(0, 18))):
        src = draw(st.sampled_from(sources))
        stays = draw(st.booleans()) and draw(st.booleans())
        tgt = src if stays else draw(st.sampled_from(states))
        label = draw(
            st.sampled_from(["after 5s", "user says /(?i)yes|no/", "replica.stopped_speaking"])
        )
        edges.append(Edge(f"e{k}", src, tgt, label, stays))
    finals = set(draw(st.lists(st.sampled_from(states), max_size=2)))
    return Graph(states, states[0], finals, edges)


@settings(max_examples=60, deadline=None)
@given(graphs(), st.data())
def test_any_diagram_lays_out_without_overlaps_and_draws_every_edge(graph, data):
    taken = Counter({e.id: data.draw(st.integers(0, 3)) for e in graph.edges})
    lay = layout(graph, taken)
    boxes = [
        (it.key, it.x - it.left, it.x + it.right, lay.rank_y[it.rank])
        for it in lay.items.values()
        if it.kind in ("state", "any", "label")
    ]
    for i, (ka, l1, r1, y1) in enumerate(boxes):
        assert l1 >= 0 and r1 <= lay.width
        for kb, l2, r2, y2 in boxes[i + 1 :]:
            assert not (y1 == y2 and l1 < r2 and l2 < r1), f"{ka!r} overlaps {kb!r}"
    svg = parse(render_diagram(graph, visited=Counter(graph.states[:1]), taken=taken))
    drawn = [p.attrs["data-id"] for p in svg.find_all("path", "edge")]
    assert sorted(drawn) == sorted(e.id for e in graph.edges)
    assert {p.attrs["data-id"] for p in svg.find_all("path", "edge taken")} == {
        e.id for e in graph.edges if taken[e.id]
    }


# ------------------------------------------------------------------------- readable reports


def test_failures_come_first_and_open_and_passing_cases_are_closed(suite, dom):
    sections = dom.find_all("details", "case")
    verdicts = ["fail" in sec.classes for sec in sections]
    assert verdicts == sorted(verdicts, reverse=True) and verdicts[0] and not verdicts[-1]
    for sec in sections:
        assert ("open" in sec.attrs) == ("fail" in sec.classes)
    rows = dom.find("nav", "index").find_all("tr", "fail")
    assert rows and dom.find("nav", "index").find_all("tr")[1] is rows[0]


def test_no_element_id_is_used_twice(tmp_path):
    # every shipped scenario and example: `any:` transitions, several diagrams and timelines
    paths = [str(REPO / "scenarios"), str(REPO / "examples")]
    html = render_html(run_suite(paths, keep_traces="all"))
    ids = re.findall(r"\sid=\"([^\"]*)\"", html)
    assert len(ids) > 20
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_the_timeline_shows_a_state_name_whole_or_not_at_all():
    long = "lessons_learned_from_the_previous_visit"
    records = [
        {"t": 0.0, "kind": "state", "state": "greet", "via": "initial"},
        {"t": 0.4, "kind": "state", "state": long, "via": "greet.on[0]"},
        {"t": 6.0, "kind": "state", "state": "bye", "via": "x.on[0]"},
    ]
    svg = render_timeline(timeline_from_records(records_from_json(records), 60.0))
    names = re.findall(
        r'<g class="state-span" data-state="([^"]*)">.*?<text[^>]*>([^<]*)</text>', svg
    )
    assert [n for n, _ in names] == ["greet", long, "bye"]
    for name, shown in names:
        assert shown in (name, ""), shown  # never "lessons_lea…"
    assert long in svg  # its tooltip says it


# ------------------------------------------------------------------- compound states as boxes


def _rect(node: Node) -> tuple[float, float, float, float]:
    a = {k: float(node.attrs[k]) for k in ("x", "y", "width", "height")}
    return a["x"], a["y"], a["x"] + a["width"], a["y"] + a["height"]


def _inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return (
        outer[0] < inner[0] and inner[2] < outer[2] and outer[1] < inner[1] and inner[3] < outer[3]
    )


def _apart(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_diagram_draws_a_compound_state_as_a_box_around_its_states():
    graph = scenario_graph(load_scenario(str(SCENARIOS / "guided-tour.yaml")))
    svg = parse(render_diagram(graph, visited=Counter({"tour.rooms": 2, "question": 1})))
    box = svg.find("g", "compound", data_compound="tour")
    assert "visited" in box.classes  # a state inside it was entered
    assert box.find("text").text() == "tour"
    outer = _rect(box.find("rect"))
    states = {
        g.attrs["data-state"]: _rect(g.find("rect"))
        for g in svg.find_all("g", "state")
        if "data-state" in g.attrs
    }
    for name in ("tour", "tour.intro", "tour.rooms", "tour.price"):
        assert _inside(states[name], outer), name
    for name in ("question", "goodbye"):
        assert _apart(states[name], outer), name
    for label in svg.find_all("text", "edge-label"):  # labels of edges leaving it stay out
        if "tour.price.on[0]" in label.find("title").text() or "tour.on[0]" in label.text():
            x, y = float(label.attrs["x"]), float(label.attrs["y"])
            assert not (outer[0] < x < outer[2] and outer[1] < y < outer[3])
    unvisited = parse(render_diagram(graph)).find("g", "compound", data_compound="tour")
    assert "visited" not in unvisited.classes
    flat = scenario_graph(load_scenario(str(SCENARIOS / "kiosk.yaml")))
    assert not parse(render_diagram(flat)).find_all("g", "compound")


@st.composite
def nested_graphs(draw):
    graph = draw(graphs())
    parents = {}
    for i, s in enumerate(graph.states[1:], start=1):
        if draw(st.booleans()):
            parents[s] = graph.states[draw(st.integers(0, i - 1))]
    return Graph(graph.states, graph.initial, graph.finals, graph.edges, parents)


@settings(max_examples=80, deadline=None)
@given(nested_graphs())
def test_compound_boxes_hold_their_states_and_nothing_else(graph):
    lay = layout(graph)
    ancestors = {}
    for s in graph.states:
        chain, p = set(), graph.parents.get(s)
        while p is not None:
            chain.add(p)
            p = graph.parents.get(p)
        ancestors[s] = chain
    compound = set(graph.parents.values())
    assert set(lay.boxes) == compound
    for it in lay.items.values():
        if it.kind not in ("state", "any", "label"):
            continue
        y, h = lay.rank_y[it.rank], (NODE_H if it.kind != "label" else 9) / 2
        ext = (it.x - it.left, y - h, it.x + it.right, y + h)
        assert ext[0] >= 0 and ext[2] <= lay.width and ext[3] <= lay.height
        for c, box in lay.boxes.items():
            assert box[0] >= 0 and box[2] <= lay.width and box[3] <= lay.height
            if it.kind == "state" and (it.key == c or c in ancestors[it.key]):
                assert _inside(ext, box), f"{it.key!r} outside box {c!r}"
            elif it.kind != "label":
                assert _apart(ext, box), f"{it.key!r} inside box {c!r}"
            elif not set(it.path) >= {c}:
                assert _apart(ext, box), f"label of {graph.edges[it.edge].id} inside box {c!r}"
    for a in compound:  # boxes nest or stay apart
        for b in compound - {a}:
            A, B = lay.boxes[a], lay.boxes[b]
            if a in ancestors[b]:
                assert _inside(B, A)
            elif b not in ancestors[a]:
                assert _apart(A, B), f"boxes {a!r} and {b!r} overlap"
    svg = parse(render_diagram(graph))
    assert {g.attrs["data-compound"] for g in svg.find_all("g", "compound")} == compound
