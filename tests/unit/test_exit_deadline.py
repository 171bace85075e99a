"""A stopped hub leaves within its exit deadline, even with a thread that will not end
(seen once: `serve` still there 20 s after SIGTERM on a loaded machine)."""

import subprocess
import sys

import pytest

STUCK = """
import logging, threading, time
logging.basicConfig(level=logging.INFO)
threading.Thread(target=time.sleep, args=(600,)).start()  # not a daemon: holds the exit
{arm}
"""


def test_a_stuck_thread_does_not_keep_a_stopped_hub_from_leaving() -> None:
    arm = "from hub.supervision import arm_exit_deadline; arm_exit_deadline(0, seconds=0.5)"
    done = subprocess.run(
        [sys.executable, "-c", STUCK.format(arm=arm)], capture_output=True, timeout=60
    )
    assert done.returncode == 0
    assert b"event=serve.forced_exit" in done.stderr


def test_without_the_deadline_the_same_thread_holds_the_process() -> None:
    # The twin that shows the first test could fail: nothing else ends this process.
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", STUCK.format(arm="")], timeout=3)


def test_a_process_that_leaves_in_time_is_not_held_by_the_deadline() -> None:
    quick = "from hub.supervision import arm_exit_deadline; arm_exit_deadline(0, seconds=600)"
    done = subprocess.run([sys.executable, "-c", quick], capture_output=True, timeout=60)
    assert done.returncode == 0
    assert b"forced_exit" not in done.stderr
