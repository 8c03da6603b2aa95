"""`python -m experiments.serve` as a user runs it: on a trained workdir it prints its URL, answers
the official `openai` client, and on SIGTERM shuts down with one message and exit status 0; a
workdir with no checkpoint is refused in one line with exit status 1.

The workdir is the serving tests' shared one (`tests.research.serve.lm_workdir`: a byte-level BPE
tokenizer, checkpoints saved over 8 devices); the server runs on one device, as `rx.run` starts it.
"""

import re
import shutil
import signal
import subprocess
import threading
import time

import openai
import pytest

from research.text import tokenizers
from tests.experiments import run_experiment as rx
from tests.research.serve.lm_workdir import trained_workdir

CONFIG = "experiments/configs/serve/gpt_tiny.py:smoke"
MODULE = "experiments.serve"
URL = re.compile(r"Serving 'lm_workdir' at (http://127\.0\.0\.1:\d+/v1)")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return trained_workdir(tmp_path_factory.getbasetemp())


def _started(proc, lines: list[str], timeout_s: float = 120) -> str:
    """The base URL the server printed (stdout is read into `lines` by a thread meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in lines:
            if match := URL.search(line):
                return match.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}) before serving")
        time.sleep(0.05)
    raise AssertionError(f"no URL printed within {timeout_s} s: {lines}")


def test_serves_the_openai_client_then_stops_cleanly_on_sigterm(workdir, tmp_path):
    stderr_file = tmp_path / "stderr"
    with stderr_file.open("w") as stderr:
        proc = subprocess.Popen(
            rx.command(MODULE, CONFIG, workdir), cwd=rx.ROOT, env=rx.env(),
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        url = _started(proc, lines)
        at_start = len(stderr_file.read_text())  # what it logged before printing the URL
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)
        answer = client.completions.create(
            model="lm_workdir", prompt="The ", max_tokens=4, temperature=0.0
        )
        # The workdir's BPE tokenizer, not bytes: "The " is fewer tokens than its 4 bytes.
        prompt_tokens = len(tokenizers.load(workdir / "tokenizer").encode("The "))
        assert prompt_tokens < 4 and answer.usage.prompt_tokens == prompt_tokens
        assert answer.model == "lm_workdir" and answer.choices[0].finish_reason in (
            "length",
            "stop",
        )
        assert 1 <= answer.usage.completion_tokens <= 4
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    errors = stderr_file.read_text()
    assert code == 0, errors[-3000:]
    assert lines[-1].strip() == "Server stopped.", lines
    assert "Traceback" not in errors and "SIGTERM outside the training loop" not in errors, errors
    # The warm-up compiled the prefill and decode steps of one row before the URL was printed;
    # this request (one row, 3 + 4 positions: one block) compiled nothing on the client's time.
    assert errors[:at_start].count("serving engine: compiling the prefill step for 1 rows") == 1
    assert "compiling" not in errors[at_start:], errors[at_start:]


def test_workdir_without_checkpoint_is_refused_in_one_line(workdir, tmp_path):
    shutil.copy(workdir / "config.json", tmp_path)
    shutil.copytree(workdir / "tokenizer", tmp_path / "tokenizer")
    done = rx.run(rx.command(MODULE, CONFIG, tmp_path), timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stderr.startswith("error: ") and "holds no finished checkpoint" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Serving" not in done.stdout
