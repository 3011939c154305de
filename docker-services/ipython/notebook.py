"""CloudCode's IPython driver: one interpreter serving a line REPL and notebook cells at once.

Started by the launcher as the `ipython` language's program (docs/protocol.md, "The notebook
channel"). The REPL reads stdin and writes stdout/stderr like `ipython3 --simple-prompt`; cells
arrive as JSON lines on the channel's fd 3 and their replies leave as JSON lines on fd 4. Both run
in the same InteractiveShell, so they share variables and one execution_count.

One thread (the main one) runs everything the user wrote; it waits in select() on stdin and the
channel only at the REPL prompt, so a cell can only run while the REPL waits there. A second,
small thread drains the pipes that stand in for fds 1 and 2 during a cell, so that a subprocess
writing a lot cannot block on a full pipe while the main thread waits for it.

Channel messages (one JSON object per line, never a raw newline inside):
  backend -> driver: {"id": n, "code": "...", "epoch": e, "limit": bytes}
  driver -> backend: {"t": "idle"|"busy", "epoch": e}   the REPL is at its prompt / runs statement e
                     {"t": "conflict", "id": n}         a REPL statement started after the backend
                                                        decided (its epoch is stale): answer 409
                     {"t": "reply", "id": n, "execution_count": c, "status": "ok"|"error",
                      "outputs": [...], "truncated": b, "ended": b}
"ended" says the cell ended the interpreter (exit(), sys.exit()); the driver exits right after.

Usage: notebook.py [main.py]       the program (main.py runs first, as `ipython -i main.py` does)
       notebook.py --bench N        time N trivial cells through the capture path, print JSON
"""
import base64
import builtins
import codecs
import fcntl
import json
import os
import select
import signal
import stat
import sys
import threading
import time

CHANNEL_IN, CHANNEL_OUT = 3, 4
TRUNCATED_TEXT = "\n[output truncated]"


def take_channel():
    """The channel's ends, moved away from 3 and 4 and made close-on-exec, so that no subprocess
    inherits them and a fd the user opens later cannot land on 3 or 4 and be mistaken for them.
    None when the launcher gave no channel (a plain `ipython` run)."""
    try:
        if not (stat.S_ISFIFO(os.fstat(CHANNEL_IN).st_mode) and stat.S_ISFIFO(os.fstat(CHANNEL_OUT).st_mode)):
            return None
    except OSError:
        return None
    req = fcntl.fcntl(CHANNEL_IN, fcntl.F_DUPFD_CLOEXEC, 64)
    rep = fcntl.fcntl(CHANNEL_OUT, fcntl.F_DUPFD_CLOEXEC, 64)
    os.close(CHANNEL_IN)
    os.close(CHANNEL_OUT)
    return req, rep


def clean_text(s):
    """Text that JSON (and jansson on the other side) accepts: lone surrogates become '?'."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace").decode("utf-8")


def clean_data(data):
    """A mime bundle as JSON: bytes (a PNG from a formatter) as base64 text."""
    out = {}
    for mime, value in data.items():
        if isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(value).decode("ascii")
        elif isinstance(value, str):
            value = clean_text(value)
        else:
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = clean_text(str(value))
        out[mime] = value
    return out


def to_json(value):
    """The reply's encoding: UTF-8 as is (escaped only where JSON must), so that a reply's size is
    what Capture counted."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def json_size(value):
    return len(to_json(value))


def escaped_size(text):
    """Bytes `text` takes inside a JSON string (without the quotes)."""
    return json_size(text) - 2


def cut_to(text, room):
    """The longest prefix of `text` whose escaped size is at most `room`."""
    lo, hi = 0, min(len(text), max(room, 0))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if escaped_size(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


class Capture:
    """A cell's outputs, in order, capped at `limit` bytes of the JSON they take in the reply
    (images by their base64 size, text with its escapes, each output with its fields): the
    backend takes a reply line of at most the limit plus a small slack (core/backend/notebook.c)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = False
        self.outputs = []
        self.size = 0
        self.limit = 0
        self.truncated = False

    def begin(self, limit):
        with self.lock:
            self.outputs = []
            self.size = 0
            self.limit = limit if limit and limit > 0 else 1 << 62
            self.truncated = False
            self.active = True

    def end(self):
        with self.lock:
            self.active = False
            if self.truncated:
                self._stream_locked("stdout", TRUNCATED_TEXT, force=True)
            outputs, self.outputs = self.outputs, []
            return outputs, self.truncated

    def _room(self):
        return self.limit - self.size

    def _stream_locked(self, name, text, force=False):
        if not text or (self.truncated and not force):
            return
        last = self.outputs[-1] if self.outputs else None
        merge = last and last["type"] == "stream" and last["name"] == name
        # A new output costs its fields and the comma before it.
        fields = 0 if merge else json_size({"type": "stream", "name": name, "text": ""}) + 1
        n = escaped_size(text)
        if not force and fields + n > self._room():
            text = cut_to(text, self._room() - fields)
            self.truncated = True
            if not text:
                return
            n = escaped_size(text)
        self.size += fields + n
        if merge:
            last["text"] += text
        else:
            self.outputs.append({"type": "stream", "name": name, "text": text})

    def stream(self, name, text):
        with self.lock:
            if self.active:
                self._stream_locked(name, clean_text(text))

    def add(self, output):
        with self.lock:
            if not self.active or self.truncated:
                return
            size = json_size(output) + 1
            if size > self._room():
                self.truncated = True
                return
            self.size += size
            self.outputs.append(output)


CAP = Capture()


class FdCapture:
    """Fds 1 and 2 during a cell: pipes drained into CAP, so that what a subprocess (or C code,
    or sys.__stdout__) writes reaches the reply, not the session's output record."""

    def __init__(self):
        self.pipes = {}
        for fd, name in ((1, "stdout"), (2, "stderr")):
            r, w = os.pipe()                  # both non-inheritable: only dup2'ed copies are
            os.set_blocking(r, False)
            self.pipes[r] = (name, w, codecs.getincrementaldecoder("utf-8")("replace"))
        self.real = {0: os.dup(0), 1: os.dup(1), 2: os.dup(2)}
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.lock = threading.Lock()
        threading.Thread(target=self._reader, name="cloudcode-fd-capture", daemon=True).start()

    def _reader(self):
        fds = list(self.pipes)
        while True:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            self.drain(ready)

    def drain(self, fds=None):
        with self.lock:
            for r in fds if fds is not None else self.pipes:
                name, _, decoder = self.pipes[r]
                while True:
                    try:
                        chunk = os.read(r, 65536)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    CAP.stream(name, decoder.decode(chunk))

    def begin(self):
        flush_std()
        os.dup2(self.devnull, 0)   # a subprocess must not eat the REPL's input
        for r, (name, w, _) in self.pipes.items():
            os.dup2(w, 1 if name == "stdout" else 2)

    def end(self):
        flush_std()
        for fd in (0, 1, 2):
            os.dup2(self.real[fd], fd)
        self.drain()
        with self.lock:
            for r, (name, _, decoder) in self.pipes.items():
                CAP.stream(name, decoder.decode(b"", final=True))
                decoder.reset()


def flush_std():
    for f in (sys.__stdout__, sys.__stderr__):
        try:
            f.flush()
        except (OSError, ValueError):
            pass


class CellStream:
    """sys.stdout / sys.stderr during a cell. What the OS-level pipes hold is taken first, so
    Python's prints and a subprocess's output stay in the order they were written."""

    def __init__(self, name, fdcap):
        self.name = name
        self.fdcap = fdcap
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.fdcap.drain()
        CAP.stream(self.name, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        return 1 if self.name == "stdout" else 2

    def readable(self):
        return False

    def writable(self):
        return True


class CellStdin:
    """sys.stdin during a cell: a cell has no input (api.md)."""

    encoding = "utf-8"

    def _refuse(self, *args, **kwargs):
        __tracebackhide__ = True   # IPython leaves this frame out of the traceback
        from IPython.core.error import StdinNotImplementedError
        raise StdinNotImplementedError("input() is not available in a notebook cell")

    read = readline = readlines = __next__ = _refuse

    def __iter__(self):
        return self

    def isatty(self):
        return False

    def fileno(self):
        return 0


class Stdin:
    """sys.stdin of the REPL, sharing one buffer with the prompt loop: a statement's input() gets
    the lines that arrived together with the statement, and the loop gets what input() left."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self):
        self.pending = b""
        self.eof = False
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def fill(self):
        """One read of fd 0 (blocking). False at the end of input."""
        if self.eof:
            return False
        try:
            chunk = os.read(0, 65536)
        except InterruptedError:
            return True
        if not chunk:
            self.eof = True
            return False
        self.pending += chunk
        return True

    def has_line(self):
        return b"\n" in self.pending or (self.eof and self.pending)

    def take_line(self):
        i = self.pending.find(b"\n")
        i = len(self.pending) if i < 0 else i + 1
        line, self.pending = self.pending[:i], self.pending[i:]
        return line.decode("utf-8", "replace")

    def readline(self, size=-1):
        while not self.has_line() and self.fill():
            pass
        return self.take_line()

    def read(self, size=-1):
        while (size is None or size < 0 or len(self.pending) < size) and self.fill():
            pass
        n = len(self.pending) if size is None or size < 0 else size
        data, self.pending = self.pending[:n], self.pending[n:]
        return data.decode("utf-8", "replace")

    def readlines(self):
        return list(iter(self.readline, ""))

    def __iter__(self):
        return iter(self.readline, "")

    def isatty(self):
        return False

    def fileno(self):
        return 0

    def readable(self):
        return True

    def close(self):
        pass

    @property
    def closed(self):
        return False


def make_shell():
    from traitlets.config import Config
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Hook(DisplayHook):
        """execute_result: into the cell's reply during a cell, `Out[n]:` on the REPL otherwise."""

        def write_output_prompt(self):
            if not CAP.active:
                super().write_output_prompt()

        def write_format_data(self, format_dict, md_dict=None):
            if not CAP.active:
                return super().write_format_data(format_dict, md_dict)
            data = clean_data(format_dict)
            CAP.add({"type": "execute_result", "data": data})

        def finish_displayhook(self):
            if not CAP.active:
                super().finish_displayhook()

    class Pub(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            if not CAP.active:
                return super().publish(data, metadata, source, transient=transient, update=update, **kwargs)
            data = clean_data(data)
            CAP.add({"type": "display_data", "data": data})

    class Shell(InteractiveShell):
        exit_status = None   # set when the code asked the interpreter to end

        def _showtraceback(self, etype, evalue, stb):
            if not CAP.active:
                return super()._showtraceback(etype, evalue, stb)
            tb = [clean_text(line) for line in stb]
            CAP.add({"type": "error", "ename": etype.__name__, "evalue": clean_text(str(evalue)),
                     "traceback": tb})

        def showtraceback(self, exc_tuple=None, *args, **kwargs):
            # IPython catches SystemExit and carries on; here it ends the session, silently.
            etype, value = (exc_tuple or sys.exc_info())[:2]
            if etype is not None and issubclass(etype, SystemExit):
                self.exit_status = value.code if isinstance(value, SystemExit) else 0
                return
            return super().showtraceback(exc_tuple, *args, **kwargs)

        def ask_exit(self):
            # exit() and quit(): IPython would only end its own loop at the next prompt.
            raise SystemExit(0)

    c = Config()
    c.HistoryManager.enabled = False   # no sqlite file, no saving thread: faster, and nothing kept
    c.InteractiveShell.colors = "NoColor"
    return Shell.instance(config=c, displayhook_class=Hook, display_pub_class=Pub)


class Driver:
    def __init__(self, shell, channel):
        self.shell = shell
        self.req_fd, self.rep_fd = channel if channel else (None, None)
        self.req_buf = b""
        self.epoch = 0
        self.in_user_code = False
        self.interrupted = False
        self.stdin = Stdin()
        self.source = ""
        self.fdcap = FdCapture() if channel else None
        self.repl_out, self.repl_err = sys.stdout, sys.stderr
        sys.stdin = self.stdin
        # A signal must wake the prompt's select(), which Python otherwise resumes by itself.
        self.wakeup_r, wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_r, False)
        os.set_blocking(wakeup_w, False)
        signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, self.on_sigint)

    # ---- signals ------------------------------------------------------------------------
    def on_sigint(self, signo, frame):
        """KeyboardInterrupt only inside user code; elsewhere (a timeout's SIGINT that arrives
        just after its cell ended, ^C at the prompt) it is noted, never raised into the loop."""
        __tracebackhide__ = True
        if self.in_user_code:
            raise KeyboardInterrupt
        self.interrupted = True

    def run_user(self, fn, *args, **kwargs):
        self.in_user_code = True
        try:
            return fn(*args, **kwargs)
        finally:
            self.in_user_code = False

    # ---- the channel --------------------------------------------------------------------
    def send(self, msg):
        if self.rep_fd is None:
            return
        data = to_json(msg) + b"\n"
        while data:
            try:
                n = os.write(self.rep_fd, data)
            except InterruptedError:
                continue
            except OSError:
                return    # the launcher is gone: the run is ending anyway
            data = data[n:]

    def read_channel(self):
        try:
            chunk = os.read(self.req_fd, 1 << 20)
        except InterruptedError:
            return
        if not chunk:
            os.close(self.req_fd)
            self.req_fd = None
            return
        self.req_buf += chunk

    def next_request(self):
        i = self.req_buf.find(b"\n")
        if i < 0:
            return None
        line, self.req_buf = self.req_buf[:i], self.req_buf[i + 1:]
        try:
            return json.loads(line)
        except ValueError:
            return {}

    # ---- the REPL -----------------------------------------------------------------------
    def prompt(self, continuation=False):
        out = self.repl_out
        if continuation:
            out.write("   ...: ")
        else:
            out.write(f"\nIn [{self.shell.execution_count}]: " if self.shell.execution_count > 1
                      else f"In [{self.shell.execution_count}]: ")
        out.flush()

    def repl_line(self, line):
        self.source += line
        # As IPython's own prompt: a compound statement ends with an empty line.
        status, _ = self.shell.input_transformer_manager.check_complete(self.source)
        if status == "incomplete":
            self.prompt(continuation=True)
            return
        source, self.source = self.source, ""
        if not source.strip():
            self.prompt()
            return
        self.epoch += 1
        self.send({"t": "busy", "epoch": self.epoch})
        try:
            self.run_user(self.shell.run_cell, source, store_history=True)
        except KeyboardInterrupt:
            self.repl_err.write("KeyboardInterrupt\n")
        flush_std()
        if self.shell.exit_status is not None:
            self.exit(self.shell.exit_status)
        self.send({"t": "idle", "epoch": self.epoch})
        self.prompt()

    def exit(self, status):
        flush_std()
        if status is None:
            status = 0
        elif not isinstance(status, int):
            print(status, file=sys.__stderr__)
            status = 1
        os._exit(status & 0xFF)

    # ---- cells --------------------------------------------------------------------------
    def run_cell(self, code, limit):
        """Runs one cell with every output captured; the reply's fields."""
        shell = self.shell
        count = shell.execution_count
        saved = sys.stdout, sys.stderr, sys.stdin, builtins.input
        CAP.begin(limit)
        self.fdcap.begin()
        sys.stdout, sys.stderr = CellStream("stdout", self.fdcap), CellStream("stderr", self.fdcap)
        sys.stdin = CellStdin()
        builtins.input = sys.stdin._refuse
        ok = False
        try:
            result = self.run_user(shell.run_cell, code, store_history=True)
            ok = result.success
            count = result.execution_count if result.execution_count is not None else count
        except KeyboardInterrupt:
            # Interrupted outside run_code (while compiling, in a post-execute hook).
            CAP.add({"type": "error", "ename": "KeyboardInterrupt", "evalue": "",
                     "traceback": ["KeyboardInterrupt"]})
        finally:
            sys.stdout, sys.stderr, sys.stdin, builtins.input = saved
            self.fdcap.end()
            outputs, truncated = CAP.end()
        return {"execution_count": count, "status": "ok" if ok else "error", "outputs": outputs,
                "truncated": truncated}

    def cell(self, req):
        rid = req.get("id")
        if req.get("epoch") != self.epoch or not isinstance(req.get("code"), str):
            self.send({"t": "conflict", "id": rid})
            return
        reply = self.run_cell(req["code"], req.get("limit") or 0)
        reply.update(t="reply", id=rid)
        status = self.shell.exit_status
        if status is not None:
            reply["ended"] = True
            reply["status"] = "error"
        self.send(reply)
        if status is not None:
            self.exit(status)
        self.interrupted = False
        self.send({"t": "idle", "epoch": self.epoch})

    # ---- the loop -----------------------------------------------------------------------
    def wait(self):
        """Waits for stdin or the channel; at the end of stdin the interpreter ends (as IPython's
        does on ^D)."""
        fds = [0, self.wakeup_r] + ([self.req_fd] if self.req_fd is not None else [])
        ready, _, _ = select.select(fds, [], [])
        if self.wakeup_r in ready:
            try:
                os.read(self.wakeup_r, 256)
            except BlockingIOError:
                pass
        if self.interrupted:
            self.interrupted = False
            self.source = ""
            self.repl_err.write("\nKeyboardInterrupt\n")
            self.prompt()
        if self.req_fd in ready:
            self.read_channel()
        if 0 in ready and not self.stdin.fill() and not self.stdin.pending:
            self.exit(0)

    def loop(self):
        self.send({"t": "idle", "epoch": self.epoch})
        self.prompt()
        while True:
            if self.stdin.has_line():
                self.repl_line(self.stdin.take_line())
                continue
            req = self.next_request() if self.req_fd is not None or self.req_buf else None
            if req is not None:
                self.cell(req)
                continue
            if self.stdin.eof:
                if self.source.strip():
                    self.repl_line("\n")
                self.exit(0)
            self.wait()


def run_main_file(shell, path):
    """`ipython -i main.py`: the file runs first, in the user's namespace."""
    if path and os.path.isfile(path):
        shell.safe_execfile(path, shell.user_ns, shell.user_ns, raise_exceptions=False, shell_futures=True)
        flush_std()
        if shell.exit_status is not None:
            os._exit(shell.exit_status if isinstance(shell.exit_status, int) else 1)


def bench(n):
    """IPython's own time for `1+1` (run_cell alone) against the driver's whole cell path."""
    channel = os.pipe()
    shell = make_shell()
    drv = Driver(shell, channel)
    raw, full = [], []
    for _ in range(n):
        CAP.begin(1 << 20)
        t = time.perf_counter()
        shell.run_cell("1+1", store_history=True)
        raw.append(time.perf_counter() - t)
        CAP.end()
        t = time.perf_counter()
        drv.run_cell("1+1", 1 << 20)
        full.append(time.perf_counter() - t)
    med = lambda xs: sorted(xs)[len(xs) // 2] * 1000
    print(json.dumps({"cells": n, "ipython_run_cell_ms": round(med(raw), 3),
                      "driver_cell_ms": round(med(full), 3)}), file=sys.__stdout__)


def main(argv):
    # Figures as inline PNGs: plt.show() and the figures open at a cell's end become display_data
    # (matplotlib_inline's post-execute hook). Set before anything imports matplotlib.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    if len(argv) > 2 and argv[1] == "--bench":
        return bench(int(argv[2]))
    channel = take_channel()
    import warnings
    warnings.filterwarnings("ignore", message="To exit: use 'exit', 'quit', or Ctrl-D.")
    for f in (sys.stdout, sys.stderr):
        f.reconfigure(line_buffering=True)
    shell = make_shell()
    driver = Driver(shell, channel)
    run_main_file(shell, argv[1] if len(argv) > 1 else None)
    driver.loop()


if __name__ == "__main__":
    main(sys.argv)
