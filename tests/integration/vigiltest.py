"""vigiltest.py - what the integration tests' Python clients share.

lib.sh puts this directory on PYTHONPATH.
"""
import time
import urllib.request


def metric(port, name):
    """The sum of a metric's samples on the admin listener at port."""
    text = urllib.request.urlopen(
        "http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.split("{")[0].split()[:1] == [name])


def wait_until(cond, what, secs=15):
    """Polls cond until it holds; fails the test after secs seconds."""
    end = time.time() + secs
    while not cond():
        assert time.time() < end, "timed out waiting for " + what
        time.sleep(0.05)
