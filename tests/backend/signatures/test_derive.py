"""Failure signatures: which lines they keep, what they ignore, and how well they cluster."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

from test_observer.signatures.derive import SIGNATURE_VERSION, derive

from .corpus import CORPUS, quality, samples


def test_the_corpus_is_large_and_varied_enough_to_measure() -> None:
    corpus = samples()
    formats = Counter(sample.fmt for sample in corpus)
    assert len(corpus) >= 300
    assert len(formats) >= 6
    assert all(count >= 15 for count in formats.values()), formats


def test_signatures_cluster_the_corpus_by_cause() -> None:
    measured = quality(samples())
    print(f"\n{measured}")
    assert measured.purity >= 0.95
    assert measured.recall >= 0.9


def test_the_generated_corpus_is_what_its_script_writes(tmp_path: Path) -> None:
    # The script is seeded: running it again writes the committed files, byte for byte.
    committed = CORPUS / "generated"
    subprocess.run([sys.executable, str(CORPUS / "generate.py"), str(tmp_path / "out")], check=True)
    written = {
        p.relative_to(tmp_path / "out"): p.read_bytes() for p in (tmp_path / "out").rglob("*.txt")
    }
    assert written == {p.relative_to(committed): p.read_bytes() for p in committed.rglob("*.txt")}


def test_what_varies_between_runs_does_not_change_the_signature() -> None:
    first = derive(
        "2026-01-02T03:04:05Z starting on enp3s0 (aa:bb:cc:dd:ee:01)\n"
        "Traceback (most recent call last):\n"
        '  File "/home/ubuntu/.venv/lib/python3.10/site-packages/lab/disk.py", line 10, in wipe\n'
        "    os.open(path)\n"
        "OSError: cannot open /dev/sda1 on 10.0.0.4 (session 0f8fad5b-d9cb-469f-a165-70867728950e,"
        " buffer 0x7ffd1a2b, /tmp/tmpab12cd34/log)\n"
    )
    second = derive(
        "2026-11-30T23:59:59Z starting on wlp2s0 (11:22:33:44:55:66)\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3/dist-packages/lab/disk.py", line 12, in wipe\n'
        "    os.open(path)\n"
        "OSError: cannot open /dev/nvme0n1p2 on 192.168.1.77 (session "
        "7c9e6679-7425-40de-944b-e07fc1f90ae7, buffer 0xdeadbeef, /tmp/tmp.Zq81kLmP0a/log)\n"
    )
    assert first.hash == second.hash
    assert first.text == (
        "<path>/disk.py in wipe\n"
        "OSError: cannot open <path>/<dev> on <ip> (session <uuid>, buffer <hex>, <path>/log)"
    )
    # The excerpt is the raw text the signature was made from.
    assert "/dev/sda1" in first.excerpt


def test_a_different_cause_gives_a_different_signature() -> None:
    timeout = derive("E       TimeoutError: device 10.0.0.1 not ready after 30s")
    refused = derive("E       ConnectionRefusedError: [Errno 111] Connection refused")
    assert timeout.hash != refused.hash


def test_http_status_codes_are_part_of_the_cause() -> None:
    assert derive(
        "E   assert 503 == 200\nE    +  where 503 = <Response [503]>.status_code"
    ).hash != (
        derive("E   assert 403 == 200\nE    +  where 403 = <Response [403]>.status_code").hash
    )


def test_the_test_that_failed_is_not_part_of_the_signature() -> None:
    one = derive("=== RUN   TestA\n    a_test.go:10: got 3 want 4\n--- FAIL: TestA (0.01s)")
    other = derive("=== RUN   TestB\n    a_test.go:99: got 5 want 6\n--- FAIL: TestB (0.20s)")
    assert one.hash == other.hash


def test_the_comment_is_read_after_the_output() -> None:
    assert derive("", "Error: disk full").text == "Error: disk full"
    assert derive("", "").text == "<no output>"


def test_without_a_recognisable_line_the_last_lines_are_used() -> None:
    signature = derive("one\ntwo\nthree\nfour\n")
    assert signature.text == "two\nthree\nfour"


def test_the_rules_version_is_part_of_the_hash() -> None:
    signature = derive("Error: disk full")
    assert signature.version == SIGNATURE_VERSION

    assert (
        signature.hash
        == hashlib.sha256(f"{SIGNATURE_VERSION}\n{signature.text}".encode()).hexdigest()
    )


def test_a_huge_output_is_read_from_its_end_only() -> None:
    signature = derive("Error: early noise\n" + "x\n" * 100_000 + "Error: the real one 42\n")
    assert signature.text == "Error: the real one <n>"


def test_ipv6_and_mac_addresses_and_times_are_normalised() -> None:
    one = derive("Error: no route to fe80::1ff:fe23:4567:890a from aa:bb:cc:00:11:22 at 10:11:12")
    other = derive("Error: no route to fe80::2 from 00:11:22:33:44:55 at 23:59:59")
    assert one.text == "Error: no route to <ip> from <mac> at <time>"
    assert other.hash == one.hash
