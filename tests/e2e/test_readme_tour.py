"""README.md's "A 60-second tour" runs as written: its shell lines set
$TOKEN, $ID, $STREAM_KEY and $PLAYBACK_ID from the server's answers, and its
GStreamer pipeline pushes a stream that goes live. Only the ports (and the
API key placeholder) are adapted to the test server."""
import re
import subprocess
import time

import pytest

from conftest import REPO
from media import gst_h264_encoder

README = REPO / "README.md"


def tour_text():
    text = README.read_text()
    start = text.index("## A 60-second tour")
    return text[start:text.index("\n## ", start + 1)]


def tour_commands(first, last):
    """The tour's shell lines from the one starting with `first` through the
    one starting with `last` (backslash continuations included)."""
    lines = "\n".join(re.findall(r"```sh\n(.*?)```", tour_text(), re.S)).splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(first))
    j = next(k for k, ln in enumerate(lines) if k >= i and ln.startswith(last))
    while lines[j].endswith("\\"):
        j += 1
    return "\n".join(lines[i:j + 1])


def for_server(script, server):
    """The README's default ports and key placeholder, made this server's."""
    return (script.replace(":8080", f":{server.http_port}")
            .replace(":1935", f":{server.rtmp_port}")
            .replace("localhost:", "127.0.0.1:")
            .replace("KEY=onair_…", f"KEY={server.apikey('readme-tour')}"))


def run_sh(script, timeout=30):
    p = subprocess.run(["sh", "-eu", "-c", script], capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, f"exit {p.returncode}\n{script}\nstderr: {p.stderr[-2000:]}"
    return p.stdout


def tour_variables(server):
    """Runs the tour from API= to PLAYBACK_ID= and returns its variables."""
    script = for_server(tour_commands("API=", "PLAYBACK_ID="), server)
    out = run_sh(script + '\necho "VARS $TOKEN $ID $STREAM_KEY $PLAYBACK_ID"\n')
    return dict(zip(("token", "id", "stream_key", "playback_id"),
                    out.strip().splitlines()[-1].split()[1:]))


def test_tour_sets_its_variables_from_the_answers(server):
    v = tour_variables(server)
    c = server.client(v["token"])
    s = c.get_stream(v["id"])
    assert s["name"] == "my-first-stream"
    assert s["stream_key"] == v["stream_key"]
    assert s["playback_ids"][0]["id"] == v["playback_id"]


@pytest.mark.skipif(not gst_h264_encoder(), reason="no GStreamer H.264 encoder")
def test_tour_gstreamer_pipeline_goes_live(server):
    v = tour_variables(server)
    gst = for_server(tour_commands("gst-launch-1.0", "gst-launch-1.0"), server)
    script = f"STREAM_KEY={v['stream_key']}\nexec {gst}"
    proc = subprocess.Popen(["sh", "-c", script], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        c = server.client(v["token"])
        deadline = time.time() + 30
        status = None
        while time.time() < deadline and proc.poll() is None:
            status = c.get_stream(v["id"])["status"]["name"]
            if status == "live":
                break
            time.sleep(0.5)
        assert status == "live", f"status {status}; gst exit {proc.poll()}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()
