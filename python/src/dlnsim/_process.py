"""Running the dlnsim binary: JSON messages on stderr, a tqdm bar, errors as DLNSimError."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import warnings
from typing import Callable, Optional

from ._binary import find_binary
from ._errors import DLNSimError


_ISSUE = re.compile(r"^\s+- ([A-Za-z_][A-Za-z0-9_.\[\]@]*): (.*)$")


class DLNSimWarning(UserWarning):
    """A warning dlnsim printed (e.g. seeds that can only be identical)."""


class Invocation:
    """What one call of the binary produced: stdout text, the parsed JSON events, other stderr lines."""

    def __init__(self, args, returncode, stdout, events, stderr_lines):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.events = events
        self.stderr_lines = stderr_lines

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)


def environment() -> dict:
    env = dict(os.environ)
    env["DLNSIM_MESSAGES"] = "json"
    return env


def parse_event(line: str) -> Optional[dict]:
    """The JSON object of one stderr line, or None if the line is not one."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if isinstance(obj, dict) and "event" in obj:
        return obj
    return None


def invoke(
    args,
    *,
    stdin_text: Optional[str] = None,
    on_event: Optional[Callable[[dict], None]] = None,
    ok_codes=(0,),
) -> Invocation:
    """Run `dlnsim ARGS…`; raise DLNSimError unless its exit status is in ok_codes."""
    binary = find_binary()
    cmd = [binary, *args]
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=environment(),
            # its own process group: a Ctrl-C in the terminal reaches Python only, which forwards one SIGINT (a
            # second one would stop dlnsim at once instead of after its checkpoint)
            start_new_session=True,
        )
    except OSError as error:
        raise DLNSimError(f"cannot start {binary}: {error}", kind="binary_not_found") from error

    stdout_chunks: list[str] = []

    def read_stdout():
        for chunk in proc.stdout:
            stdout_chunks.append(chunk)

    def write_stdin():
        try:
            proc.stdin.write(stdin_text)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    threads = [threading.Thread(target=read_stdout, daemon=True)]
    if stdin_text is not None:
        threads.append(threading.Thread(target=write_stdin, daemon=True))
    for thread in threads:
        thread.start()

    events: list[dict] = []
    other: list[str] = []
    try:
        for line in proc.stderr:
            line = line.rstrip("\n")
            event = parse_event(line)
            if event is None:
                if line.strip():
                    other.append(line)
                continue
            events.append(event)
            if event.get("event") == "warning":
                warnings.warn(str(event.get("message", "")), DLNSimWarning, stacklevel=4)
            if on_event is not None:
                on_event(event)
        proc.wait()
    except BaseException:
        # KeyboardInterrupt (or anything else here): one SIGINT, on which dlnsim stops after writing its checkpoint
        # (resume with `dlnsim run --resume DIR`)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    finally:
        for thread in threads:
            thread.join(timeout=10)

    result = Invocation(cmd, proc.returncode, "".join(stdout_chunks), events, other)
    if proc.returncode not in ok_codes:
        raise error_from(result)
    return result


def error_from(result: Invocation) -> DLNSimError:
    errors = [e for e in result.events if e.get("event") == "error"]
    if errors:
        e = errors[-1]
        return DLNSimError(
            str(e.get("message", "dlnsim failed")),
            kind=e.get("kind"),
            key=e.get("key"),
            issues=e.get("issues") or [],
            returncode=result.returncode,
            stderr=result.stderr,
        )
    text = result.stderr.strip() or result.stdout.strip()
    # a binary without JSON messages: "  - grid.alfa: unknown key …" lines name the key paths
    issues = []
    for line in result.stderr_lines:
        match = _ISSUE.match(line)
        if match:
            issues.append({"key": match.group(1), "message": match.group(2)})
    if result.returncode is not None and result.returncode < 0:
        text = f"dlnsim was killed by signal {-result.returncode}" + (f": {text}" if text else "")
    return DLNSimError(
        text or f"dlnsim exited with status {result.returncode}",
        kind="invalid_configuration" if issues else None,
        key=issues[0]["key"] if issues else None,
        issues=issues,
        returncode=result.returncode,
        stderr=result.stderr,
    )


class ProgressBar:
    """A tqdm bar fed by the binary's progress events (terminal or notebook, via tqdm.auto)."""

    def __init__(self, enabled: bool, desc: str):
        self.enabled = enabled
        self.desc = desc
        self.bar = None

    def __call__(self, event: dict):
        if not self.enabled:
            return
        kind = event.get("event")
        if kind == "progress":
            total = event.get("total")
            done = event.get("done")
            if self.bar is None:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc=self.desc, unit=" replica-steps", unit_scale=True, dynamic_ncols=True)
            if total is not None and self.bar.total != total:
                self.bar.total = total
            if done is not None:
                self.bar.update(max(0, done - self.bar.n))
            postfix = {}
            if event.get("checkpoints") is not None:
                postfix["checkpoint"] = f"{event.get('checkpoint')}/{event.get('checkpoints')}"
            loss = event.get("train_loss_median")
            if loss is not None:
                postfix["train loss"] = f"{loss:.3g}"
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
        elif kind == "done":
            self.close()

    def close(self, complete: bool = True):
        if self.bar is not None:
            if complete and self.bar.total is not None and self.bar.n < self.bar.total:
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()
            self.bar = None
