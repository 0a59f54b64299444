"""RTMPS ingest with a real encoder: ffmpeg pushes rtmps:// (TLS via its
GnuTLS build) to onair's second port, with the self-signed certificate onair
makes on first start, and with a certificate given by --tls-cert/--tls-key.
openssl s_client reads which certificate the port presents.
"""
import shutil
import subprocess

import pytest

from conftest import free_port
from media import (Pusher, assert_av_streams, ffmpeg_argv, ffprobe_streams, hls_url, log_offset,
                   playback_id, segment_url, wait_log, wait_playlist, wait_status)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("openssl") is None,
                                reason="ffmpeg or openssl not installed")


def presented_cert_sha256(port):
    """SHA-256 fingerprint of the certificate the TLS port presents."""
    s = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                        "-servername", "localhost"],
                       input=b"", capture_output=True, timeout=20)
    pem = s.stdout.split(b"-----BEGIN CERTIFICATE-----", 1)
    assert len(pem) == 2, f"no certificate from port {port}: {s.stdout[-500:]!r} {s.stderr[-500:]!r}"
    pem = b"-----BEGIN CERTIFICATE-----" + pem[1].split(b"-----END CERTIFICATE-----")[0] + \
        b"-----END CERTIFICATE-----\n"
    return file_cert_sha256(pem)


def file_cert_sha256(pem):
    f = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem,
                       capture_output=True, timeout=20, check=True)
    return f.stdout.strip().split(b"=", 1)[1]


def push_rtmps_and_play(srv, api, tmp_path, name):
    s = api.create({"name": name})
    url = s["server_urls"]["rtmps"]
    assert url == f"rtmps://127.0.0.1:{srv.rtmps_port}/live", s["server_urls"]
    p = Pusher(ffmpeg_argv(f"{url}/{s['stream_key']}"), tmp_path / f"{name}.log", "ffmpeg-rtmps")
    try:
        wait_status(api, s["id"], "live", timeout=20)
        pl_url = hls_url(srv, playback_id(s))
        pl = wait_playlist(pl_url, lambda pl: len(pl.segments) >= 2, timeout=20)
        assert_av_streams(ffprobe_streams(segment_url(pl_url, pl.segments[-1].uri)),
                          f"{name}: pushed over RTMPS")
        assert p.alive(), p
    except AssertionError as e:
        raise AssertionError(f"{e}\npusher: {p!r}\n{srv.logs(30)}")
    finally:
        p.kill()


def test_self_signed_on_first_start_and_kept(fresh_server, tmp_path):
    port = free_port()
    srv = fresh_server(extra_args=["--rtmps", f"127.0.0.1:{port}"])
    srv.rtmps_port = port
    cert = srv.data_dir / "tls" / "cert.pem"
    assert cert.exists(), "no self-signed certificate in DATA/tls/"
    first = file_cert_sha256(cert.read_bytes())
    assert presented_cert_sha256(port) == first
    api = srv.new_project("rtmps-self-signed")
    push_rtmps_and_play(srv, api, tmp_path, "rtmps-self-signed")
    # plain RTMP sent to the TLS port costs only that connection
    since = log_offset(srv)
    p = Pusher(ffmpeg_argv(f"rtmp://127.0.0.1:{port}/live/x", duration=2), tmp_path / "plain.log",
               "ffmpeg-plain")
    assert p.wait(20) not in (None, 0), p
    wait_log(srv, "rtmp_close", since=since)
    # a restart keeps the certificate (clients may have pinned it)
    srv.restart()
    assert file_cert_sha256(cert.read_bytes()) == first
    assert presented_cert_sha256(port) == first


def test_certificate_from_the_config(fresh_server, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=ingest.example.test", "-keyout", str(key), "-out", str(cert)],
                   capture_output=True, timeout=60, check=True)
    port = free_port()
    srv = fresh_server(extra_args=["--rtmps", f"127.0.0.1:{port}", "--tls-cert", str(cert),
                                   "--tls-key", str(key)])
    srv.rtmps_port = port
    assert presented_cert_sha256(port) == file_cert_sha256(cert.read_bytes())
    assert not (srv.data_dir / "tls" / "cert.pem").exists(), "made a self-signed one anyway"
    api = srv.new_project("rtmps-configured")
    push_rtmps_and_play(srv, api, tmp_path, "rtmps-configured")
