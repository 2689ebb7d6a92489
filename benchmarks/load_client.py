"""Protocol-level load client: N simulated students against a plm-lens server, no browsers.

Each session speaks Streamlit's own websocket protocol, as the frontend does: an HTTP GET of the page (cookies:
Streamlit's XSRF cookie, the proxy's affinity cookie), the websocket ``/_stcore/stream``, a ``rerun_script``
BackMsg (a ``ClientState`` with the query string, page and widget states; the ``fragment_id`` of the widget's
fragment), then ForwardMsgs until ``script_finished``. Widget ids, options and fragments are read from the
deltas, so the client clicks and types by the widgets' keys. Uploads use ``file_urls_request`` and a PUT to
``/_stcore/upload_file`` with the XSRF header.

What students do (each session starts at another activity of the cycle, with 1–3 s of thinking between actions):

- ``masking``: open the masking lab, type the sentence word by word (one update per pause, as the 100 ms live
  input sends), click a token;
- ``lesson``: open lesson 2 from a link, answer the question, reveal, step on;
- ``attribution``: open the attribution page (Integrated Gradients on the default sentence), edit the sentence;
- ``bias``: upload a template CSV on the bias page and run the template probe.

Reported per action: n, p50/p95/max seconds from the BackMsg sent to the script finished; errors (exceptions,
``st.error`` alerts, timeouts, HTTP failures); results that differ between sessions for the same input; masking
updates per second; server RSS and model loads; the replica each session reached (``X-Plm-Upstream``, set by
deploy/nginx.conf) and whether it changed; the load average. Bounded in sessions, actions and time; only
127.0.0.1.

    python3 -m benchmarks.load_client --sessions 30                 # starts the README's server itself
    python3 -m benchmarks.load_client --sweep 10,30,100             # capacity: p95 of a masking update ≤ 1 s
    python3 -m benchmarks.load_client --url http://127.0.0.1:8080/ --sessions 20   # a running server or proxy
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import glob
import http.cookiejar
import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.plm_cluster import SERVE_STREAMLIT, free_port

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_HEADER = "X-Plm-Upstream"
MASKING_P95_LIMIT_S = 1.0
ACTIVITIES = ("masking", "lesson", "attribution", "bias")
RUN_ANYWAY, RUN_ANYWAY_TEXT = "attribution.run", "run it anyway"  # the Attribution page's prompt on a busy machine
# Text that legitimately differs between sessions doing the same thing: what the server counts across all
# sessions. The bias page's run ids ("Run #12") are masked; its hint about other sessions' stored runs (absent
# until someone has run a probe) is left out.
SERVER_COUNTERS = re.compile(r"\b([Rr]un) #\d+")
SERVER_STATE = re.compile(r"\bstored runs? of this probe\b")
SENTENCES = [
    "The cat sat on the mat because it was tired.",
    "A quick brown fox jumps over the lazy dog.",
    "Students learn how attention works in transformers.",
    "The film was not good at all.",
]
RUN_TAG = "." + uuid.uuid4().hex[:4]  # a new text every run: no cache hit from an earlier run on a warm server
NAMES = ["Ann", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun"]
TEMPLATE_CSV = ("template,target,NAME\n"
                "This is [NAME].,career,John\nThis is [NAME].,family,Amy\n"
                "[NAME] is here.,career,Paul\n[NAME] is here.,family,Lisa\n")
# the server wrapper that logs plm_core's model loads to a file (one copy: the launcher's)
SERVE = SERVE_STREAMLIT


# --------------------------------------------------------------------------------------------- server ----


def rss_mb(pid: int) -> float:
    """Resident memory of one process (MB), from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def wait_healthy(base: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{base} not healthy in {timeout:.0f} s")


def streamlit_command(port: int, load_log: Path, *extra: str) -> list[str]:
    """``streamlit run app.py`` (the README's server) on 127.0.0.1:port, model loads logged to ``load_log``."""
    return [sys.executable, "-c", SERVE, str(load_log), "run", "app.py", "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", *extra]


class Server:
    """The README's server (``streamlit run app.py``) on a free port, started and stopped by this client."""

    def __init__(self, env: dict[str, str] | None = None, folder: Path | None = None):
        """``folder``: where its logs go (default: plm-load-<port> in the temporary folder, kept for a person to
        read after a benchmark; tests pass a folder of their own)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.dir = folder or Path(os.environ.get("TMPDIR", "/tmp")) / f"plm-load-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.load_log = self.dir / "loads.log"
        self.load_log.write_text("")
        self.log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen(streamlit_command(self.port, self.load_log), cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     env={**os.environ, "HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu", **(env or {})})
        try:
            wait_healthy(self.base, self.proc)
        except Exception:
            self.stop()
            raise
        self.pids = [self.proc.pid]
        self.load_logs = [self.load_log]

    def stop(self) -> None:
        self.proc.terminate()  # our own PID only
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (s), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class Watch:
    """Samples the RSS of the server processes (peak) while the load runs, and their CPU time."""

    def __init__(self, pids: list[int]):
        self.pids, self.peak, self._stop = pids, 0.0, threading.Event()
        self.cpu0 = sum(cpu_seconds(p) for p in pids)
        threading.Thread(target=self._sample, daemon=True).start()

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids) - self.cpu0

    def rss(self) -> float:
        return sum(rss_mb(p) for p in self.pids)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.25)

    def stop(self) -> None:
        self._stop.set()


def model_loads(logs: list[Path]) -> int:
    return sum(1 for p in logs if p.exists() for line in p.read_text().splitlines() if " loaded " in line)


# ------------------------------------------------------------------------------------------- protocol ----


class ProtocolError(Exception):
    pass


@dataclass
class Widget:
    id: str
    type: str  # the Element oneof: text_input, button, button_group, radio, checkbox, file_uploader, ...
    proto: Any
    fragment_id: str


class StSession:
    """One browser tab, as Streamlit's frontend speaks to the server."""

    def __init__(self, base: str, timeout: float, jar: http.cookiejar.CookieJar | None = None):
        self.base = base if base.endswith("/") else base + "/"
        self.timeout = timeout
        self.jar = jar if jar is not None else http.cookiejar.CookieJar()  # a browser's cookies: shared by its tabs
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.ws: Any = None
        self.session_id = ""
        self.page_hash = ""
        self.query = ""
        self.widgets: dict[str, Widget] = {}  # user key -> widget (from the last run that drew it)
        self.upstreams: set[str] = set()
        self.run_texts: list[str] = []
        self.run_charts: list[str] = []
        self.run_errors: list[str] = []
        self._uploads: dict[str, Any] = {}

    # -- HTTP
    def _cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def _xsrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "_streamlit_xsrf"), "")

    def _http(self, path: str, method: str = "GET", data: bytes | None = None,
              headers: dict[str, str] | None = None) -> bytes:
        req = urllib.request.Request(self.base + path.lstrip("/"), data=data, method=method, headers=headers or {})
        with self.opener.open(req, timeout=self.timeout) as r:
            up = r.headers.get(UPSTREAM_HEADER)
            if up:
                self.upstreams.add(up)
            return r.read()

    # -- websocket
    async def open(self, page: str, query: str = "") -> float:
        """GET the page (cookies), connect the websocket, run the page; returns seconds from the first BackMsg."""
        from websockets.asyncio.client import connect

        await asyncio.to_thread(self._http, page + (f"?{query}" if query else ""))
        await asyncio.to_thread(self._http, "_stcore/health")  # the frontend's health check sets the XSRF cookie
        ws_url = self.base.replace("http", "ws", 1) + "_stcore/stream"
        self.ws = await connect(ws_url, subprotocols=["streamlit"], additional_headers={"Cookie": self._cookie_header()},
                                origin=self.base.rstrip("/"), max_size=None, open_timeout=self.timeout,
                                ping_interval=None)
        up = self.ws.response.headers.get(UPSTREAM_HEADER)
        if up:
            self.upstreams.add(up)
        self.query = query
        return await self._rerun({}, page_name=page)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def _client_state(self, values: dict[str, Any], page_name: str, fragment_id: str):
        from streamlit.proto.ClientState_pb2 import ClientState

        cs = ClientState(query_string=self.query, page_script_hash=self.page_hash, page_name=page_name,
                         fragment_id=fragment_id)
        cs.context_info.timezone = "UTC"
        cs.context_info.locale = "en-US"
        cs.context_info.url = self.base + page_name
        for key, value in values.items():
            w = self.widgets[key]
            st = cs.widget_states.widgets.add()
            st.id = w.id
            if w.type == "button":
                st.trigger_value = True
            elif w.type == "checkbox":
                st.bool_value = bool(value)
            elif w.type == "button_group":
                st.string_array_value.data.extend(value)
            elif w.type == "file_uploader":
                st.file_uploader_state_value.CopyFrom(value)
            else:  # text_input, text_area, radio, selectbox: the (formatted) string
                st.string_value = value
        return cs

    async def _rerun(self, values: dict[str, Any], page_name: str = "") -> float:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        fragments = {self.widgets[k].fragment_id for k in values}
        fragment_id = fragments.pop() if len(fragments) == 1 else ""
        msg = BackMsg()
        msg.rerun_script.CopyFrom(self._client_state(values, page_name, fragment_id))
        self.run_texts, self.run_charts, self.run_errors = [], [], []
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        await self._until_finished()
        return time.perf_counter() - t0

    async def _until_finished(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        done = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), self.timeout)
            msg = ForwardMsg.FromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "script_finished":
                if msg.script_finished in done:
                    return
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise ProtocolError("the script did not compile")
                self.run_texts, self.run_charts, self.run_errors = [], [], []  # a rerun follows
            elif kind == "new_session":
                if msg.new_session.initialize.session_id:
                    self.session_id = msg.new_session.initialize.session_id
            elif kind == "navigation":  # st.navigation: the page this run shows (app.py is the main script)
                self.page_hash = msg.navigation.page_script_hash
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                path = msg.metadata.delta_path
                self._element(msg.delta.new_element, msg.delta.fragment_id, main=not path or path[0] == 0)
            elif kind == "file_urls_response":
                self._uploads[msg.file_urls_response.response_id] = msg.file_urls_response
            elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
                self.run_errors.append("script compilation exception")

    def _element(self, el, fragment_id: str, main: bool = True) -> None:
        """Record a widget (by key), an error, or (main area only: the page's result) a text or a chart."""
        from streamlit.proto.Alert_pb2 import Alert

        kind = el.WhichOneof("type")
        body = getattr(el, kind)
        if not main and kind not in ("exception", "alert"):
            pass
        elif kind == "exception":
            self.run_errors.append(f"{body.type}: {body.message}"[:300])
        elif kind == "alert":
            if body.format == Alert.ERROR:
                self.run_errors.append(f"st.error: {body.body}"[:300])
            if main:
                self.run_texts.append(body.body)
        elif kind in ("markdown", "code", "heading", "text"):
            self.run_texts.append(getattr(body, "body", "") or getattr(body, "code_text", ""))
        elif kind == "plotly_chart":
            self.run_charts.append(body.spec)
        wid = getattr(body, "id", "") if kind not in ("plotly_chart",) else ""
        if wid.startswith("$$ID-"):
            key = wid.split("-", 2)[2]
            self.widgets[key] = Widget(wid, kind, body, fragment_id)

    # -- actions a user takes
    async def set(self, **values: Any) -> float:
        """Change widgets (by key: ``set(**{"masking.text": "..."})``); a button's value is ignored."""
        missing = [k for k in values if k not in self.widgets]
        if missing:
            raise ProtocolError(f"no widget {missing} on this page (have: {sorted(self.widgets)[:12]}…)")
        return await self._rerun(values)

    async def click(self, key: str) -> float:
        return await self.set(**{key: True})

    def options(self, key: str) -> list[str]:
        w = self.widgets[key]
        if w.type == "button_group":
            return [o.content for o in w.proto.options]
        return list(w.proto.options)

    async def upload(self, key: str, name: str, data: bytes, mime: str = "text/csv") -> float:
        """Upload a file into a file_uploader (file_urls_request, PUT to /_stcore/upload_file, rerun)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.Common_pb2 import FileUploaderState

        t0 = time.perf_counter()
        rid = uuid.uuid4().hex
        msg = BackMsg()
        msg.file_urls_request.request_id = rid
        msg.file_urls_request.session_id = self.session_id
        msg.file_urls_request.file_names.append(name)
        await self.ws.send(msg.SerializeToString())
        deadline = time.monotonic() + self.timeout
        while rid not in self._uploads:
            if time.monotonic() > deadline:
                raise ProtocolError("no file_urls_response")
            from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

            fm = ForwardMsg.FromString(await asyncio.wait_for(self.ws.recv(), self.timeout))
            if fm.WhichOneof("type") == "file_urls_response":
                self._uploads[fm.file_urls_response.response_id] = fm.file_urls_response
        resp = self._uploads.pop(rid)
        if resp.error_msg:
            raise ProtocolError(f"upload refused: {resp.error_msg}")
        urls = resp.file_urls[0]
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        await asyncio.to_thread(self._http, urls.upload_url, "PUT", body,
                                {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                 "X-Xsrftoken": self._xsrf()})
        state = FileUploaderState()
        info = state.uploaded_file_info.add()
        info.name, info.size, info.file_id = name, len(data), urls.file_id
        info.file_urls.CopyFrom(urls)
        await self.set(**{key: state})
        return time.perf_counter() - t0

    def result(self) -> str:
        """What the last run showed, as text: its texts (server-wide counters masked or left out: SERVER_COUNTERS,
        SERVER_STATE) and its charts' numbers (rounded to 1e-7)."""
        charts = []
        for spec in self.run_charts:
            fig = json.loads(spec)
            charts.append([_numbers(trace) for trace in fig.get("data", [])])
        texts = [SERVER_COUNTERS.sub(r"\1 #N", t) for t in self.run_texts if not SERVER_STATE.search(t)]
        return json.dumps({"texts": texts, "charts": charts}, sort_keys=True, ensure_ascii=False)


def plotly_array(value) -> list[float]:
    """A numeric plotly array (a list, or plotly's typed-array dict with base64 ``bdata``)."""
    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).astype(float).ravel().tolist()
    return [float(v) for v in value] if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value) \
        else []


def _numbers(trace: dict) -> dict[str, list[float]]:
    return {k: [round(v, 7) for v in plotly_array(trace[k])] for k in ("x", "y", "z") if k in trace
            and plotly_array(trace[k])}


# ------------------------------------------------------------------------------------------ activities ----


@dataclass
class Record:
    session: int
    action: str
    key: str  # what was asked (results of equal keys must be equal)
    seconds: float
    ok: bool
    result: str = ""
    error: str = ""


@dataclass
class Student:
    index: int
    base: str
    timeout: float
    think: tuple[float, float]
    shared_text: bool = False
    records: list[Record] = field(default_factory=list)
    upstreams: set[str] = field(default_factory=set)

    def __post_init__(self):
        self.rng = random.Random(self.index)
        self.jar = http.cookiejar.CookieJar()  # one browser per student: its tabs share the affinity cookie
        self.tabs_that_changed_replica = 0

    async def act(self, action: str, key: str, coro) -> Any:
        """Time one action, record its result and errors; raise nothing. A busy machine may make the Attribution
        page ask first (pages/attribution.py: "Run anyway (about N s)" when its estimate passes SLOW_S): the student
        answers it, within the action's time, so every session's result is the attribution."""
        try:
            seconds = await coro()
            st = self.current
            if RUN_ANYWAY in st.widgets and any(RUN_ANYWAY_TEXT in t for t in st.run_texts):
                seconds += await st.click(RUN_ANYWAY)
            self.records.append(Record(self.index, action, key, seconds, not st.run_errors, st.result(),
                                       "; ".join(st.run_errors)))
        except Exception as err:  # noqa: BLE001 - every failure is counted and reported
            self.records.append(Record(self.index, action, key, float("nan"), False,
                                       error=f"{type(err).__name__}: {str(err)[:200]}"))
            raise

    async def pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.think))

    async def session(self, page: str, query: str, action: str, key: str) -> StSession:
        st = self.current = StSession(self.base, self.timeout, self.jar)
        await self.act(action, key, lambda: st.open(page, query))
        return st

    async def masking(self, sentence: str) -> None:
        st = await self.session("masking", "", "open_page", "masking")
        if not self.shared_text:  # each student types their own sentence: no cache hit from another session
            sentence = f"{NAMES[self.index % len(NAMES)]} ({self.index}{RUN_TAG}) thinks: {sentence}"
        words = sentence.split()
        try:
            for k in range(3, len(words) + 1):  # typing: one update per pause in typing
                text = " ".join(words[:k])
                await self.pause()
                await self.act("masking_update", f"type {text}", lambda: st.set(**{"masking.text": text}))
            labels = st.options("masking.masks")  # the word tokens 1..n-2 ([CLS] and [SEP] are not offered)
            k = min(2, len(labels) - 1)
            await self.pause()
            await self.act("masking_update", f"click {sentence} @ {labels.index(labels[k]) + 1}",
                           lambda: st.set(**{"masking.masks": [labels[k]]}))
        finally:
            self.upstreams |= st.upstreams
            self.tabs_that_changed_replica += len(st.upstreams) > 1
            await st.close()

    async def lesson(self, sentence: str) -> None:
        from plm_core.lessons.content import get_lesson  # the lesson picker's label is what a link carries

        query = urllib.parse.urlencode({"lessons.lesson": f"2. {get_lesson(2).title('en')}", "lessons.text.2": sentence})
        st = await self.session("lessons", query, "open_page", f"lesson 2 {sentence}")
        try:
            for step in range(1, 4):
                guess, reveal = f"lessons.guess.2.{step}", f"lessons.reveal.2.{step}"
                if guess in st.widgets and reveal in st.widgets:
                    await self.pause()
                    first = st.options(guess)[0]
                    await self.act("lesson_step", f"guess 2.{step} {sentence}", lambda: st.set(**{guess: first}))
                    await self.act("lesson_step", f"reveal 2.{step} {sentence}", lambda: st.set(**{reveal: True}))  # a toggle
                await self.pause()
                await self.act("lesson_step", f"next 2.{step} {sentence}", lambda: st.click("lessons.next"))
        finally:
            self.upstreams |= st.upstreams
            self.tabs_that_changed_replica += len(st.upstreams) > 1
            await st.close()

    async def attribution(self, sentence: str) -> None:
        st = await self.session("attribution", "", "attribution", "attribution default")
        if not self.shared_text:  # their own sentence: Integrated Gradients computed, not a cache hit
            sentence = f"{NAMES[self.index % len(NAMES)]} ({self.index}{RUN_TAG}) says: {sentence}"
        try:
            await self.pause()
            await self.act("attribution", f"attribution {sentence}", lambda: st.set(**{"attribution.text": sentence}))
        finally:
            self.upstreams |= st.upstreams
            self.tabs_that_changed_replica += len(st.upstreams) > 1
            await st.close()

    async def bias(self, sentence: str) -> None:
        st = await self.session("bias", "", "open_page", "bias")
        try:
            await self.pause()
            await self.act("bias_upload", "upload templates.csv",
                           lambda: st.upload("bias.template.csv", "templates.csv", TEMPLATE_CSV.encode()))
            await self.act("bias_probe", "template probe (uploaded)", lambda: st.click("bias.template.run"))
        finally:
            self.upstreams |= st.upstreams
            self.tabs_that_changed_replica += len(st.upstreams) > 1
            await st.close()

    async def run(self, activities: tuple[str, ...], deadline: float, max_actions: int) -> None:
        n = 0
        while time.monotonic() < deadline and len(self.records) < max_actions:
            name = activities[(self.index + n) % len(activities)]
            sentence = SENTENCES[(self.index + n) % len(SENTENCES)]
            try:
                await getattr(self, name)(sentence)
            except Exception:  # noqa: BLE001 - recorded in act(); go on with the next activity
                pass
            n += 1


# ---------------------------------------------------------------------------------------------- runs ----


def percentile(values: list[float], q: float) -> float:
    values = sorted(v for v in values if v == v)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def _load(base: str, n_sessions: int, activities: tuple[str, ...], duration: float, max_actions: int,
                timeout: float, ramp: float, think: tuple[float, float],
                shared_text: bool = False) -> tuple[list[Student], float]:
    students = [Student(i, base, timeout, think, shared_text) for i in range(n_sessions)]
    t0 = time.monotonic()
    deadline = t0 + duration

    async def start(s: Student) -> None:
        await asyncio.sleep(ramp * s.index / max(1, n_sessions))
        await s.run(activities, deadline, max_actions)

    await asyncio.gather(*(start(s) for s in students))
    return students, time.monotonic() - t0


def same_result(a: str, b: str, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """Whether two results (see ``StSession.result``) show the same: equal texts, and chart numbers equal within
    float32 rounding. A batch of another size (the bias page sizes its chunks by elapsed time) sums in another
    order, which moves float32 scores by ~1e-7 relative."""
    if a == b:
        return True
    x, y = json.loads(a), json.loads(b)
    if x["texts"] != y["texts"] or len(x["charts"]) != len(y["charts"]):
        return False
    for cx, cy in zip(x["charts"], y["charts"]):
        if len(cx) != len(cy):
            return False
        for tx, ty in zip(cx, cy):
            if tx.keys() != ty.keys() or any(
                    len(tx[k]) != len(ty[k])
                    or not all(math.isclose(u, v, rel_tol=rtol, abs_tol=atol) for u, v in zip(tx[k], ty[k]))
                    for k in tx):
                return False
    return True


def summarise(records: list[Record], wall: float) -> dict[str, Any]:
    table = {}
    for action in sorted({r.action for r in records}):
        times = [r.seconds for r in records if r.action == action and r.ok]
        table[action] = {"n": len(times), "p50_s": round(percentile(times, 0.5), 3),
                         "p95_s": round(percentile(times, 0.95), 3),
                         "max_s": round(max(times), 3) if times else None,
                         "errors": sum(1 for r in records if r.action == action and not r.ok)}
    by_key: dict[str, list[str]] = {}  # per key: results that differ from each other beyond float rounding
    for r in records:
        if r.ok:
            kept = by_key.setdefault(r.key, [])
            if not any(same_result(r.result, k) for k in kept):
                kept.append(r.result)
    differing = sorted(k for k, v in by_key.items() if len(v) > 1)
    detail = []
    for k in differing[:2]:
        a, b = [json.loads(x) for x in by_key[k][:2]]
        detail.append([k, [x for x in a["texts"] if x not in b["texts"]][:3],
                       [x for x in b["texts"] if x not in a["texts"]][:3],
                       "charts differ" if a["charts"] != b["charts"] else ""])
    updates = sum(1 for r in records if r.action == "masking_update" and r.ok)
    return {"latency": table, "actions": len(records), "errors": sum(not r.ok for r in records),
            "error_examples": sorted({f"{r.action}: {r.error}" for r in records if not r.ok})[:8],
            "results_differing_between_sessions": len(differing), "differing_examples": differing[:3], "differing_detail": detail,
            "masking_updates_per_s": round(updates / wall, 2) if wall else None}


def run_load(base: str, n_sessions: int, *, activities: tuple[str, ...] = ACTIVITIES, duration: float = 60,
             max_actions: int = 40, timeout: float = 120, ramp: float = 5.0, think: tuple[float, float] = (1.0, 3.0),
             pids: list[int] | None = None, load_logs: list[Path] | None = None,
             shared_text: bool = False) -> dict[str, Any]:
    """N sessions against ``base`` for ``duration`` seconds (or ``max_actions`` each); the report (a dict)."""
    watch = Watch(pids or [])
    loads_before = model_loads(load_logs or [])
    load_before = os.getloadavg()
    students, wall = _run(_load(base, n_sessions, activities, duration, max_actions, timeout, ramp, think,
                                shared_text))
    watch.stop()
    records = [r for s in students for r in s.records]
    report = summarise(records, wall)
    report.update({
        "sessions": n_sessions, "wall_s": round(wall, 1), "activities": list(activities),
        "think_s": list(think), "shared_text": shared_text, "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count(),
        "server_rss_mb": {"end": round(watch.rss()), "peak": round(watch.peak)} if pids else None,
        "server_cpu_s": round(watch.cpu(), 1) if pids else None,
        "server_cpu_ms_per_action": round(1000 * watch.cpu() / max(1, len(records)), 1) if pids else None,
        "model_loads_during_run": model_loads(load_logs or []) - loads_before if load_logs else None,
        "replicas_reached": sorted({u for s in students for u in s.upstreams}),
        "sessions_that_changed_replica": sum(s.tabs_that_changed_replica for s in students),
        "students_that_changed_replica": sum(1 for s in students if len(s.upstreams) > 1),
        "sessions_per_replica": _per_replica(students),
    })
    report["records"] = records
    return report


def _per_replica(students: list[Student]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in students:
        for u in s.upstreams:
            out[u] = out.get(u, 0) + 1
    return out


def _run(coro):
    """asyncio.run in a thread of its own (the caller may already run an event loop, e.g. sync Playwright)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def warm_up(base: str, timeout: float = 300) -> None:
    """One student through every activity once (loads the model, fills the shared caches like a teacher's demo)."""
    _run(_load(base, 1, ACTIVITIES, 3 * timeout, len(ACTIVITIES) * 12, timeout, 0.0, (0.0, 0.0)))


def capacity(rows: list[dict[str, Any]], limit: float = MASKING_P95_LIMIT_S) -> int | None:
    """The most sessions whose masking-update p95 stayed within ``limit`` (None if even the fewest did not)."""
    held = [r["sessions"] for r in rows if r["latency"].get("masking_update", {}).get("p95_s", float("inf")) <= limit
            and r["errors"] == 0]
    return max(held) if held else None


def table(rows: list[dict[str, Any]], title: str) -> str:
    lines = [f"### {title}", "",
             "| sessions | masking p50 s | masking p95 s | masking max s | updates/s | lesson p95 s | attribution p95 s "
             "| bias probe p95 s | actions | errors | RSS peak MB | app CPU ms/action | model loads | load avg before→after |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lat = r["latency"]
        g = lambda a, k: lat.get(a, {}).get(k, float("nan"))  # noqa: E731
        rss = (r.get("server_rss_mb") or {}).get("peak", "—")
        lines.append(f"| {r['sessions']} | {g('masking_update', 'p50_s')} | {g('masking_update', 'p95_s')} | "
                     f"{g('masking_update', 'max_s')} | {r['masking_updates_per_s']} | {g('lesson_step', 'p95_s')} | "
                     f"{g('attribution', 'p95_s')} | {g('bias_probe', 'p95_s')} | {r['actions']} | {r['errors']} | "
                     f"{rss} | {r.get('server_cpu_ms_per_action') or '—'} | {r.get('model_loads_during_run', '—')} | "
                     f"{r['loadavg_before'][0]}→{r['loadavg_after'][0]} |")
    held = capacity(rows)
    held_text = str(held) if held is not None else f"fewer than {rows[0]['sessions']}"
    lines += ["", f"Sessions held with masking-update p95 ≤ {MASKING_P95_LIMIT_S:.0f} s: **{held_text}** "
                  f"(of {', '.join(str(r['sessions']) for r in rows)} tried; {os.cpu_count()} CPUs)"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--sweep", help="comma-separated session counts, e.g. 10,30,100: the capacity table")
    ap.add_argument("--url", help="a running server or proxy on 127.0.0.1 (default: start the README's server)")
    ap.add_argument("--duration", type=float, default=60, help="seconds of load per run (after the ramp starts)")
    ap.add_argument("--actions", type=int, default=40, help="at most this many actions per session")
    ap.add_argument("--activities", default=",".join(ACTIVITIES), help=f"subset of {','.join(ACTIVITIES)}")
    ap.add_argument("--think", default="1,3", help="seconds between a student's actions: min,max")
    ap.add_argument("--shared-text", action="store_true",
                    help="every student types the same sentences (a class following the teacher: shared cache hits); "
                         "default: each types their own")
    ap.add_argument("--ramp", type=float, default=5.0, help="seconds over which the sessions start")
    ap.add_argument("--timeout", type=float, default=120, help="seconds one action may take")
    ap.add_argument("--pids", default="", help="server PIDs to sample RSS (with --url)")
    ap.add_argument("--load-logs", default="", help="glob of model-load logs (with --url; deploy/plm_cluster.py "
                                                    "writes them)")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment of the server this client starts (e.g. OMP_NUM_THREADS=1); repeatable")
    ap.add_argument("--json", type=Path, help="also write the report(s) here")
    args = ap.parse_args()
    if args.url and urllib.parse.urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("only servers on 127.0.0.1 are load-tested")
    counts = [int(x) for x in args.sweep.split(",")] if args.sweep else [args.sessions]
    if max(counts) > 500:
        sys.exit("at most 500 sessions")
    activities = tuple(a for a in args.activities.split(",") if a)
    think = tuple(float(x) for x in args.think.split(","))
    server = None if args.url else Server(dict(kv.split("=", 1) for kv in args.server_env))
    try:
        base = args.url or server.base
        pids = server.pids if server else [int(p) for p in args.pids.split(",") if p]
        logs = server.load_logs if server else [Path(p) for p in glob.glob(args.load_logs)] if args.load_logs else []
        warm_up(base, args.timeout)
        rows = []
        for n in counts:
            rep = run_load(base, n, activities=activities, duration=args.duration, max_actions=args.actions,
                           timeout=args.timeout, ramp=args.ramp, think=think, pids=pids, load_logs=logs,
                           shared_text=args.shared_text)
            rep.pop("records")
            rows.append(rep)
            print(json.dumps(rep, indent=1, ensure_ascii=False), file=sys.stderr)
        print(table(rows, f"plm-lens under load: {base}"))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
