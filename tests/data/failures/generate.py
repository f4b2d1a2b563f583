# ruff: noqa: E501 -- the lines are the corpus text; wrapping them would hide what a run prints.
"""Writes the labelled corpus of failure outputs used to measure failure signatures.

Each cause below writes outputs the way a real run of that failure would: the cause's words
stay, while what differs between runs differs (timestamps, ids, addresses, temporary names,
devices, interfaces, home and virtualenv paths, the test that hit it, the log before it).
Causes are chosen to be confusable: several share an exception type, a test or a tool, and
differ only in what went wrong.

    python tests/data/failures/generate.py [OUTPUT_DIR]

rewrites `generated/` (or OUTPUT_DIR) deterministically (fixed seed); `handwritten/` is kept as it is. A file's
label is its name up to `--`.
"""

from __future__ import annotations

import random
import shutil
import string
import sys
from collections.abc import Callable
from pathlib import Path

SEED = 20261206
PER_CAUSE = 7
HERE = Path(__file__).parent
OUT = HERE / "generated"

Cause = Callable[[random.Random], str]
CAUSES: dict[str, dict[str, Cause]] = {}


def cause(fmt: str, name: str) -> Callable[[Cause], Cause]:
    def register(function: Cause) -> Cause:
        CAUSES.setdefault(fmt, {})[name] = function
        return function

    return register


# What varies between runs.


def ts(r: random.Random) -> str:
    return (
        f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
        f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999999):06d}Z"
    )


def clock(r: random.Random) -> str:
    return f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"


def uuid(r: random.Random) -> str:
    h = "".join(r.choice("0123456789abcdef") for _ in range(32))
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def hexs(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def ip(r: random.Random) -> str:
    return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def mac(r: random.Random) -> str:
    return ":".join(hexs(r, 2) for _ in range(6))


def disk(r: random.Random) -> str:
    return r.choice(
        [f"sd{r.choice('abcd')}", f"nvme{r.randint(0, 2)}n1", f"mmcblk{r.randint(0, 1)}"]
    )


def part(r: random.Random) -> str:
    d = disk(r)
    return f"{d}p{r.randint(1, 4)}" if d[-1].isdigit() else f"{d}{r.randint(1, 4)}"


def iface(r: random.Random) -> str:
    return r.choice(
        [
            f"eth{r.randint(0, 3)}",
            f"enp{r.randint(0, 9)}s{r.randint(0, 31)}",
            f"eno{r.randint(1, 4)}",
            f"wlp{r.randint(0, 5)}s0",
            f"wlan{r.randint(0, 1)}",
            f"enx{hexs(r, 12)}",
        ]
    )


def word(r: random.Random, n: int = 8) -> str:
    return "".join(r.choice(string.ascii_lowercase) for _ in range(n))


def tmpdir(r: random.Random) -> str:
    return r.choice(
        [
            "/tmp/tmp"
            + "".join(r.choice(string.ascii_letters + string.digits + "_") for _ in range(8)),
            "/tmp/tmp."
            + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(10)),
            f"/tmp/pytest-of-ubuntu/pytest-{r.randint(0, 400)}/test_{word(r, 5)}0",
        ]
    )


def site(r: random.Random) -> str:
    return r.choice(
        [
            f"/home/{r.choice(['ubuntu', 'jenkins', 'runner', 'ci'])}/.venv/lib/python3.{r.randint(8, 13)}/site-packages",
            "/usr/lib/python3/dist-packages",
            f"/var/lib/jenkins/workspace/{word(r, 6)}-{r.randint(1, 999)}/.tox/py3/lib/python3.12/site-packages",
            f"/snap/checkbox{r.choice(['22', '24'])}/{r.randint(1000, 9999)}/lib/python3.{r.randint(10, 12)}/site-packages",
        ]
    )


def home(r: random.Random) -> str:
    return f"/home/{r.choice(['ubuntu', 'jenkins', 'runner', 'ci', 'tester'])}"


def test_name(r: random.Random) -> str:
    return f"test_{word(r, r.randint(4, 9))}_{word(r, r.randint(3, 6))}"


def go_test(r: random.Random) -> str:
    return "Test" + word(r, 6).capitalize() + word(r, 4).capitalize()


def java_test(r: random.Random) -> str:
    return "should" + word(r, 5).capitalize() + word(r, 5).capitalize()


def chatter(r: random.Random, n: int | None = None) -> list[str]:
    """Log lines before the failure: the same kind of lines in every run, never the same ones."""
    lines = []
    for _ in range(r.randint(0, 6) if n is None else n):
        lines.append(
            r.choice(
                [
                    f"{ts(r)} INFO setting up {disk(r)} for {word(r)}",
                    f"Loading {word(r)} configuration from {home(r)}/{word(r)}.yaml",
                    f"DEBUG: connected to {ip(r)}:{r.randint(1024, 65535)} in {r.random():.3f}s",
                    f"[{r.randint(1, 9999)}/{r.randint(10000, 20000)}] checking {word(r, 5)}",
                    f"Using interface {iface(r)} ({mac(r)})",
                    f"session {uuid(r)} opened",
                    f"  {r.randint(1, 100)} passed, {r.randint(0, 3)} skipped so far",
                ]
            )
        )
    return lines


# pytest


def pytest_output(r: random.Random, body: list[str], where: str, exc: str) -> str:
    t = test_name(r)
    module = f"tests/{word(r, 6)}/test_{word(r, 5)}.py"
    lines = [
        "=" * 20 + " FAILURES " + "=" * 20,
        f"_____ {t} _____",
        "",
        *chatter(r, r.randint(0, 3)),
        f"    def {t}({r.choice(['client', 'device', 'tmp_path', 'snap'])}):",
        *body,
        "",
        f"{where}:{r.randint(10, 900)}: {exc}",
        "----- Captured log call -----",
        *chatter(r, r.randint(0, 3)),
        "=" * 10 + " short test summary info " + "=" * 10,
        f"FAILED {module}::{t} - {exc}",
        f"{r.randint(1, 5)} failed, {r.randint(10, 400)} passed in {r.random() * 100:.2f}s",
    ]
    return "\n".join(lines)


@cause("pytest", "pytest-http-status")
def _(r: random.Random) -> str:
    code = 503
    return pytest_output(
        r,
        [
            f"        response = client.get('/v1/devices/{uuid(r)}')",
            ">       assert response.status_code == 200",
            f"E       assert {code} == 200",
            f"E        +  where {code} = <Response [{code}]>.status_code",
        ],
        f"tests/{word(r, 5)}/test_api.py",
        "AssertionError",
    )


@cause("pytest", "pytest-missing-key")
def _(r: random.Random) -> str:
    return pytest_output(
        r,
        [
            f"        data = load_manifest('{tmpdir(r)}/manifest.json')",
            ">       assert data['architecture'] == 'amd64'",
            "E       KeyError: 'architecture'",
        ],
        f"{site(r)}/manifests/reader.py",
        "KeyError",
    )


@cause("pytest", "pytest-timeout-wait-ready")
def _(r: random.Random) -> str:
    return pytest_output(
        r,
        [
            f"        device.wait_ready(timeout={r.choice([30, 60, 120])})",
            f"E       TimeoutError: device {ip(r)} not ready after {r.randint(30, 300)}s "
            f"(last state: rebooting)",
        ],
        f"{site(r)}/testflinger/device.py",
        "TimeoutError",
    )


@cause("pytest", "pytest-file-missing")
def _(r: random.Random) -> str:
    return pytest_output(
        r,
        [
            f"        open('{tmpdir(r)}/out/report.xml')",
            f"E       FileNotFoundError: [Errno 2] No such file or directory: "
            f"'{tmpdir(r)}/out/report.xml'",
        ],
        f"tests/{word(r, 5)}/conftest.py",
        "FileNotFoundError",
    )


@cause("pytest", "pytest-permission-denied")
def _(r: random.Random) -> str:
    return pytest_output(
        r,
        [
            f"        open('/sys/class/net/{iface(r)}/device/power/control', 'w')",
            f"E       PermissionError: [Errno 13] Permission denied: "
            f"'/sys/class/net/{iface(r)}/device/power/control'",
        ],
        f"tests/{word(r, 5)}/test_power.py",
        "PermissionError",
    )


@cause("pytest", "pytest-version-mismatch")
def _(r: random.Random) -> str:
    v = f"{r.randint(5, 6)}.{r.randint(0, 19)}.{r.randint(0, 9)}-{r.randint(1000, 1100)}-generic"
    return pytest_output(
        r,
        [
            ">       assert kernel_version() == expected",
            f"E       AssertionError: assert '{v}' == '{r.randint(5, 6)}.{r.randint(0, 19)}.0-{r.randint(1, 99)}-generic'",
            "E         - expected",
            "E         + actual",
        ],
        f"tests/{word(r, 5)}/test_kernel.py",
        "AssertionError",
    )


@cause("pytest", "pytest-connection-refused")
def _(r: random.Random) -> str:
    return pytest_output(
        r,
        [
            f"        sock.connect(('{ip(r)}', {r.randint(1024, 65535)}))",
            "E       ConnectionRefusedError: [Errno 111] Connection refused",
        ],
        f"{site(r)}/paramiko/client.py",
        "ConnectionRefusedError",
    )


# unittest


def unittest_output(r: random.Random, frames: list[tuple[str, str, str]], exc: str) -> str:
    t = test_name(r)
    cls = "Test" + word(r, 6).capitalize()
    lines = [*chatter(r), "=" * 70, f"FAIL: {t} ({word(r, 5)}.{cls}.{t})", "-" * 70]
    lines.append("Traceback (most recent call last):")
    lines.append(
        f'  File "{home(r)}/src/tests/test_{word(r, 5)}.py", line {r.randint(5, 400)}, in {t}'
    )
    lines.append(f"    self.{word(r, 6)}()")
    for path, func, code in frames:
        lines.append(f'  File "{path}", line {r.randint(5, 900)}, in {func}')
        lines.append(f"    {code}")
    lines += [
        exc,
        "",
        "-" * 70,
        f"Ran {r.randint(2, 90)} tests in {r.random() * 40:.3f}s",
        "",
        f"FAILED (failures={r.randint(1, 4)})",
    ]
    return "\n".join(lines)


@cause("unittest", "unittest-assert-equal-count")
def _(r: random.Random) -> str:
    n = r.randint(2, 16)
    return unittest_output(
        r,
        [(f"{home(r)}/src/tests/helpers.py", "check_cpus", "self.assertEqual(online, expected)")],
        f"AssertionError: {n} != {n + r.randint(1, 8)} : online CPU count differs from /proc/cpuinfo",
    )


@cause("unittest", "unittest-dbus-service-unknown")
def _(r: random.Random) -> str:
    return unittest_output(
        r,
        [
            (
                f"{site(r)}/dbus/bus.py",
                "get_object",
                "return self.ProxyObjectClass(self, bus_name, path)",
            )
        ],
        "dbus.exceptions.DBusException: org.freedesktop.DBus.Error.ServiceUnknown: The name "
        f":1.{r.randint(10, 900)} was not provided by any .service files",
    )


@cause("unittest", "unittest-subprocess-exit")
def _(r: random.Random) -> str:
    return unittest_output(
        r,
        [
            (
                f"/usr/lib/python3.{r.randint(8, 12)}/subprocess.py",
                "check_call",
                "raise CalledProcessError(retcode, cmd)",
            )
        ],
        f"subprocess.CalledProcessError: Command '['fwupdmgr', 'get-devices', '--json']' "
        f"returned non-zero exit status {r.randint(1, 3)}.",
    )


@cause("unittest", "unittest-subprocess-missing-binary")
def _(r: random.Random) -> str:
    return unittest_output(
        r,
        [
            (
                f"/usr/lib/python3.{r.randint(8, 12)}/subprocess.py",
                "_execute_child",
                "raise child_exception_type(errno_num, err_msg, err_filename)",
            )
        ],
        "FileNotFoundError: [Errno 2] No such file or directory: 'fwupdmgr'",
    )


@cause("unittest", "unittest-assert-true-bluetooth")
def _(r: random.Random) -> str:
    return unittest_output(
        r,
        [],
        f"AssertionError: False is not true : no Bluetooth adapter found (hci{r.randint(0, 2)} "
        f"missing, rfkill{r.randint(0, 9)} soft blocked)",
    )


@cause("unittest", "unittest-json-decode")
def _(r: random.Random) -> str:
    return unittest_output(
        r,
        [
            (
                f"/usr/lib/python3.{r.randint(8, 12)}/json/decoder.py",
                "raw_decode",
                'raise JSONDecodeError("Expecting value", s, err.value) from None',
            )
        ],
        f"json.decoder.JSONDecodeError: Expecting value: line 1 column {r.randint(1, 80)} (char {r.randint(0, 500)})",
    )


# checkbox job output


def checkbox_output(r: random.Random, job: str, body: list[str]) -> str:
    lines = [
        f"-------------[ Running job {r.randint(1, 300)} / {r.randint(300, 600)}. "
        f"Estimated time left: {r.randint(0, 9)}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} ]-------------",
        f"-----------------------[ {job} ]------------------------",
        f"ID: com.canonical.certification::{job}",
        f"Category: com.canonical.plainbox::{r.choice(['networking', 'disk', 'power', 'graphics'])}",
        *chatter(r, r.randint(0, 4)),
        *body,
        "Outcome: job failed",
    ]
    return "\n".join(lines)


@cause("checkbox", "checkbox-ping-unreachable")
def _(r: random.Random) -> str:
    i = iface(r)
    return checkbox_output(
        r,
        f"ethernet/ping_{i}",
        [
            f"Checking {i} with address {ip(r)}",
            f"PING {ip(r)} ({ip(r)}) from {ip(r)} {i}: 56(84) bytes of data.",
            f"From {ip(r)} icmp_seq={r.randint(1, 9)} Destination Host Unreachable",
            f"--- {ip(r)} ping statistics ---",
            f"{r.randint(2, 10)} packets transmitted, 0 received, +{r.randint(1, 9)} errors, 100% packet loss, time {r.randint(1000, 9999)}ms",
            f"FAIL: no route to gateway through {i}",
        ],
    )


@cause("checkbox", "checkbox-suspend-resume-time")
def _(r: random.Random) -> str:
    return checkbox_output(
        r,
        f"power-management/suspend-resume-{r.randint(1, 30)}",
        [
            f"Suspend started at {ts(r)}",
            f"Resume completed at {ts(r)}",
            f"ERROR: resume took {r.uniform(10, 90):.2f}s, longer than the {r.choice([5, 10])}s allowed",
        ],
    )


@cause("checkbox", "checkbox-disk-stress-io-error")
def _(r: random.Random) -> str:
    d = disk(r)
    return checkbox_output(
        r,
        f"disk/disk_stress_ng_{d}",
        [
            f"stress-ng: info:  [{r.randint(1000, 99999)}] dispatching hogs: {r.randint(1, 16)} iomix",
            f"stress-ng: fail:  [{r.randint(1000, 99999)}] iomix: write failed on /dev/{d}, errno=5 (Input/output error)",
            f"stress-ng: info:  [{r.randint(1000, 99999)}] unsuccessful run completed in {r.uniform(1, 600):.2f}s",
        ],
    )


@cause("checkbox", "checkbox-wifi-connect-timeout")
def _(r: random.Random) -> str:
    w = f"wlp{r.randint(0, 5)}s0"
    return checkbox_output(
        r,
        f"wireless/wireless_connection_wpa_ac_nm_{w}",
        [
            f"Connecting {w} to AP {word(r, 6).upper()}-{r.randint(100, 999)} ({mac(r)})",
            "Error: Connection activation failed: (7) Secrets were required, but not provided",
            "Connection attempt failed",
        ],
    )


@cause("checkbox", "checkbox-gpu-glmark-crash")
def _(r: random.Random) -> str:
    return checkbox_output(
        r,
        f"graphics/{r.randint(1, 2)}_glmark2-es2_card{r.randint(0, 1)}",
        [
            f"glmark2 {r.randint(2014, 2023)}.{r.randint(1, 12)}",
            f"    GL_RENDERER:    Mesa Intel(R) UHD Graphics ({r.choice(['TGL GT2', 'ADL GT2', 'CML GT2'])})",
            f"Segmentation fault (core dumped) at {hexs(r, 12)}",
        ],
    )


@cause("checkbox", "checkbox-missing-tool")
def _(r: random.Random) -> str:
    return checkbox_output(
        r,
        f"usb/storage-automated-{r.randint(1, 4)}",
        [
            f"Working directory: {tmpdir(r)}",
            "/bin/sh: 1: removable_storage_test.py: not found",
        ],
    )


@cause("checkbox", "checkbox-audio-no-card")
def _(r: random.Random) -> str:
    return checkbox_output(
        r,
        "audio/alsa_record_playback_automated",
        [
            f"arecord: main:{r.randint(700, 900)}: audio open error: No such file or directory",
            f"Recording to {tmpdir(r)}/{uuid(r)}.wav",
        ],
    )


# Go test


def go_output(r: random.Random, messages: list[str], file: str) -> str:
    t = go_test(r)
    pkg = f"github.com/{word(r, 6)}/{word(r, 5)}/pkg/{word(r, 4)}"
    lines = [f"=== RUN   {t}"]
    lines += [f"    {line}" for line in chatter(r, r.randint(0, 2))]
    for message in messages:
        lines.append(f"    {file}:{r.randint(10, 800)}: {message}")
    lines += [
        f"--- FAIL: {t} ({r.random() * 9:.2f}s)",
        "FAIL",
        f"FAIL\t{pkg}\t{r.random() * 20:.3f}s",
    ]
    return "\n".join(lines)


@cause("go", "go-snapd-change-timeout")
def _(r: random.Random) -> str:
    return go_output(
        r,
        [
            f'change {r.randint(1, 9000)} "Install \\"checkbox24\\" snap" did not finish in {r.randint(1, 20)}m0s: status Doing'
        ],
        "install_test.go",
    )


@cause("go", "go-unexpected-error-eof")
def _(r: random.Random) -> str:
    return go_output(
        r,
        [
            f"unexpected error: read tcp {ip(r)}:{r.randint(1024, 65535)}->{ip(r)}:443: read: connection reset by peer"
        ],
        "client_test.go",
    )


@cause("go", "go-got-want-mismatch")
def _(r: random.Random) -> str:
    n = r.randint(1, 64)
    return go_output(
        r,
        [f"got {n} mounted partitions on /dev/{disk(r)}, want {n + r.randint(1, 4)}"],
        "mount_test.go",
    )


@cause("go", "go-nil-pointer-panic")
def _(r: random.Random) -> str:
    t = go_test(r)
    return "\n".join(
        [
            f"=== RUN   {t}",
            "--- FAIL: " + t + f" ({r.random():.2f}s)",
            "panic: runtime error: invalid memory address or nil pointer dereference [recovered]",
            f"[signal SIGSEGV: segmentation violation code=0x1 addr=0x{hexs(r, 2)} pc=0x{hexs(r, 7)}]",
            "",
            f"goroutine {r.randint(5, 200)} [running]:",
            f"testing.tRunner.func1.2({{0x{hexs(r, 7)}, 0x{hexs(r, 7)}}})",
            f"\t/usr/local/go/src/testing/testing.go:{r.randint(1500, 1700)} +0x{hexs(r, 3)}",
            f"github.com/{word(r, 5)}/agent/pkg/device.(*Manager).Lookup(0x0, {{0x{hexs(r, 7)}, 0x{r.randint(1, 9)}}})",
            f"\t{home(r)}/go/src/agent/pkg/device/manager.go:{r.randint(10, 300)} +0x{hexs(r, 2)}",
            "exit status 2",
            f"FAIL\tgithub.com/{word(r, 5)}/agent/pkg/device\t{r.random():.3f}s",
        ]
    )


@cause("go", "go-permission-socket")
def _(r: random.Random) -> str:
    return go_output(
        r,
        ["cannot connect to snapd: dial unix /run/snapd.socket: connect: permission denied"],
        "daemon_test.go",
    )


@cause("go", "go-context-deadline")
def _(r: random.Random) -> str:
    return go_output(
        r,
        [
            f"waiting for interface {iface(r)} to get an address",
            f"context deadline exceeded after {r.randint(5, 90)}s (lease {uuid(r)})",
        ],
        "network_test.go",
    )


# JUnit failure bodies, stored as "[failure] type: message" then the body (see executions.junit).


@cause("junit-java", "java-assertion-expected")
def _(r: random.Random) -> str:
    a = r.randint(1, 500)
    b = a + r.randint(1, 9)
    m = f"expected: <{a}> but was: <{b}>"
    return "\n".join(
        [
            f"[failure] org.opentest4j.AssertionFailedError: {m}",
            f"org.opentest4j.AssertionFailedError: {m}",
            "\tat org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)",
            "\tat org.junit.jupiter.api.AssertionEquals.assertEquals(AssertionEquals.java:150)",
            f"\tat com.canonical.inventory.{java_test(r)}(InventoryTest.java:{r.randint(20, 400)})",
        ]
    )


@cause("junit-java", "java-npe-parser")
def _(r: random.Random) -> str:
    return "\n".join(
        [
            '[failure] java.lang.NullPointerException: Cannot invoke "String.trim()" because "line" is null',
            'java.lang.NullPointerException: Cannot invoke "String.trim()" because "line" is null',
            f"\tat com.canonical.manifest.Parser.parse(Parser.java:{r.randint(20, 300)})",
            f"\tat com.canonical.manifest.ParserTest.{java_test(r)}(ParserTest.java:{r.randint(20, 300)})",
            "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
        ]
    )


@cause("junit-java", "java-connect-timeout-caused")
def _(r: random.Random) -> str:
    return "\n".join(
        [
            f"[failure] java.lang.RuntimeException: request {uuid(r)} failed",
            f"java.lang.RuntimeException: request {uuid(r)} failed",
            f"\tat com.canonical.client.Api.call(Api.java:{r.randint(20, 300)})",
            f"\tat com.canonical.client.ApiTest.{java_test(r)}(ApiTest.java:{r.randint(20, 300)})",
            "Caused by: java.net.SocketTimeoutException: Connect timed out",
            f"\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishConnect(NioSocketImpl.java:{r.randint(500, 600)})",
            f"\t... {r.randint(20, 60)} more",
        ]
    )


@cause("junit-java", "java-connection-refused-caused")
def _(r: random.Random) -> str:
    return "\n".join(
        [
            f"[failure] java.lang.RuntimeException: request {uuid(r)} failed",
            f"java.lang.RuntimeException: request {uuid(r)} failed",
            f"\tat com.canonical.client.Api.call(Api.java:{r.randint(20, 300)})",
            "Caused by: java.net.ConnectException: Connection refused",
            "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)",
            f"\t... {r.randint(20, 60)} more",
        ]
    )


@cause("junit-java", "java-illegal-state-db")
def _(r: random.Random) -> str:
    return "\n".join(
        [
            f"[error] java.lang.IllegalStateException: database inventory_{r.randint(1, 99)} is read-only since {ts(r)}",
            f"java.lang.IllegalStateException: database inventory_{r.randint(1, 99)} is read-only since {ts(r)}",
            f"\tat com.canonical.store.Repository.save(Repository.java:{r.randint(20, 300)})",
            f"\tat com.canonical.store.RepositoryTest.{java_test(r)}(RepositoryTest.java:{r.randint(20, 300)})",
        ]
    )


@cause("junit-python", "junit-py-assert-reboot")
def _(r: random.Random) -> str:
    return "\n".join(
        [
            f"[failure] AssertionError: machine {ip(r)} did not come back after reboot",
            f"{home(r)}/tests/test_{word(r, 5)}.py:{r.randint(10, 300)}: in {test_name(r)}",
            "    wait_for_ssh(host)",
            f"{site(r)}/lab/ssh.py:{r.randint(10, 300)}: in wait_for_ssh",
            '    raise AssertionError(f"machine {host} did not come back after reboot")',
            f"E   AssertionError: machine {ip(r)} did not come back after reboot",
            "[system-out]",
            *chatter(r, r.randint(1, 4)),
        ]
    )


@cause("junit-python", "junit-py-snap-install-conflict")
def _(r: random.Random) -> str:
    snap = "firefox"
    return "\n".join(
        [
            f"[failure] subprocess.CalledProcessError: Command '['snap', 'install', '{snap}']' returned non-zero exit status 1.",
            f"{site(r)}/snaps/install.py:{r.randint(10, 300)}: in install",
            "    subprocess.run(cmd, check=True)",
            f"E   subprocess.CalledProcessError: Command '['snap', 'install', '{snap}']' returned non-zero exit status 1.",
            "[system-err]",
            f'error: snap "{snap}" has "install-snap" change in progress',
        ]
    )


@cause("junit-python", "junit-py-key-error-serial")
def _(r: random.Random) -> str:
    return "\n".join(
        [
            "[failure] KeyError: 'serial'",
            f"{site(r)}/inventory/collect.py:{r.randint(10, 300)}: in collect",
            "    return info['serial']",
            "E   KeyError: 'serial'",
        ]
    )


@cause("junit-python", "junit-py-timeout-mqtt")
def _(r: random.Random) -> str:
    return "\n".join(
        [
            f"[error] TimeoutError: no message on topic devices/{uuid(r)}/state within {r.randint(5, 60)}s",
            f"{site(r)}/mqtt/wait.py:{r.randint(10, 300)}: in wait_message",
            "    raise TimeoutError(...)",
            f"E   TimeoutError: no message on topic devices/{uuid(r)}/state within {r.randint(5, 60)}s",
        ]
    )


@cause("junit-python", "junit-py-assert-status-code")
def _(r: random.Random) -> str:
    code = 403
    return "\n".join(
        [
            f"[failure] assert {code} == 200",
            f"{home(r)}/tests/api/test_{word(r, 5)}.py:{r.randint(10, 300)}: in {test_name(r)}",
            "    assert response.status_code == 200",
            f"E   assert {code} == 200",
            f"E    +  where {code} = <Response [{code}]>.status_code",
        ]
    )


# shell `set -x` traces


def shell_output(r: random.Random, steps: list[str], error: list[str]) -> str:
    lines = []
    for _ in range(r.randint(1, 4)):
        lines.append(f"+ echo 'step {word(r, 5)} at {clock(r)}'")
        lines.append(f"step at {clock(r)}")
    lines += [f"+ {step}" for step in steps]
    lines += error
    lines.append(f"++ exit_handler {r.choice([1, 2, 127])}")
    return "\n".join(lines)


@cause("shell", "shell-cp-missing")
def _(r: random.Random) -> str:
    t = tmpdir(r)
    return shell_output(
        r,
        [f"mkdir -p {t}/artifacts", f"cp {t}/build/image.img {t}/artifacts/"],
        [f"cp: cannot stat '{t}/build/image.img': No such file or directory"],
    )


@cause("shell", "shell-apt-lock")
def _(r: random.Random) -> str:
    return shell_output(
        r,
        ["sudo apt-get install -y stress-ng"],
        [
            f"E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process {r.randint(1000, 99999)} (unattended-upgr)",
            "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?",
        ],
    )


@cause("shell", "shell-ssh-timeout")
def _(r: random.Random) -> str:
    h = ip(r)
    return shell_output(
        r,
        [f"ssh -o ConnectTimeout={r.choice([10, 30])} ubuntu@{h} 'sudo reboot'"],
        [f"ssh: connect to host {h} port 22: Connection timed out"],
    )


@cause("shell", "shell-mount-wrong-fs")
def _(r: random.Random) -> str:
    p = part(r)
    return shell_output(
        r,
        [f"sudo mount /dev/{p} {tmpdir(r)}"],
        [
            f"mount: {tmpdir(r)}: wrong fs type, bad option, bad superblock on /dev/{p}, missing codepage or helper program, or other error.",
            "       dmesg(1) may have more information after failed mount system call.",
        ],
    )


@cause("shell", "shell-curl-404")
def _(r: random.Random) -> str:
    return shell_output(
        r,
        [
            f"curl -fsSL -o {tmpdir(r)}/image.xz https://cdimage.ubuntu.com/daily-live/{r.randint(20260101, 20261231)}/noble-desktop-amd64.iso"
        ],
        ["curl: (22) The requested URL returned error: 404"],
    )


@cause("shell", "shell-curl-resolve")
def _(r: random.Random) -> str:
    return shell_output(
        r,
        [f"curl -fsSL -o {tmpdir(r)}/image.xz https://images.lab.internal/{uuid(r)}/image.xz"],
        ["curl: (6) Could not resolve host: images.lab.internal"],
    )


@cause("shell", "shell-nmcli-device-missing")
def _(r: random.Random) -> str:
    i = iface(r)
    return shell_output(
        r,
        [f"nmcli device connect {i}"],
        [f"Error: Device '{i}' not found."],
    )


# kernel oops / dmesg


def dmesg(r: random.Random, lines: list[str]) -> str:
    t = r.uniform(1, 90000)
    out = []
    for line in chatter(r, r.randint(0, 3)) + lines:
        t += r.uniform(0, 0.01)
        out.append(f"[{t:12.6f}] {line}")
    return "\n".join(out)


def call_trace(r: random.Random, funcs: list[str]) -> list[str]:
    return (
        ["Call Trace:", " <TASK>"]
        + [f" {f}+0x{hexs(r, 2)}/0x{hexs(r, 3)}" for f in funcs]
        + [" </TASK>"]
    )


def regs(r: random.Random) -> list[str]:
    return [
        f"RSP: 0018:ffff{hexs(r, 12)} EFLAGS: 000{r.randint(10000, 99999)}",
        f"RAX: {hexs(r, 16)} RBX: ffff{hexs(r, 12)} RCX: 0000000000000000",
    ]


@cause("kernel", "kernel-null-deref-iwlwifi")
def _(r: random.Random) -> str:
    return dmesg(
        r,
        [
            f"BUG: kernel NULL pointer dereference, address: 00000000000000{hexs(r, 2)}",
            "#PF: supervisor read access in kernel mode",
            f"CPU: {r.randint(0, 15)} PID: {r.randint(100, 9999)} Comm: kworker/{r.randint(0, 15)}:{r.randint(0, 3)} Tainted: G        W  {r.randint(5, 6)}.{r.randint(0, 19)}.0-{r.randint(10, 99)}-generic #{r.randint(10, 200)}-Ubuntu",
            f"Hardware name: {r.choice(['Dell Inc. XPS 13 9340', 'LENOVO 21HD', 'HP EliteBook 840 G10'])}",
            f"RIP: 0010:iwl_mvm_rx_mpdu_mq+0x{hexs(r, 3)}/0x{hexs(r, 4)} [iwlmvm]",
            *regs(r),
            *call_trace(r, ["iwl_pcie_rx_handle", "iwl_pcie_napi_poll_msix", "__napi_poll"]),
        ],
    )


@cause("kernel", "kernel-warn-i915")
def _(r: random.Random) -> str:
    return dmesg(
        r,
        [
            "------------[ cut here ]------------",
            f"WARNING: CPU: {r.randint(0, 15)} PID: {r.randint(100, 9999)} at drivers/gpu/drm/i915/display/intel_display_power.c:{r.randint(400, 600)} intel_power_well_disable+0x{hexs(r, 2)}/0x{hexs(r, 3)} [i915]",
            f"Modules linked in: {' '.join(word(r, 5) for _ in range(5))}",
            f"RIP: 0010:intel_power_well_disable+0x{hexs(r, 2)}/0x{hexs(r, 3)} [i915]",
            *regs(r),
            *call_trace(r, ["intel_display_power_put", "intel_runtime_suspend"]),
            "---[ end trace 0000000000000000 ]---",
        ],
    )


@cause("kernel", "kernel-gpf-ext4")
def _(r: random.Random) -> str:
    return dmesg(
        r,
        [
            f"general protection fault, probably for non-canonical address 0x{hexs(r, 16)}: 0000 [#1] PREEMPT SMP NOPTI",
            f"CPU: {r.randint(0, 15)} PID: {r.randint(100, 9999)} Comm: {r.choice(['fio', 'stress-ng', 'dd'])} Not tainted {r.randint(5, 6)}.{r.randint(0, 19)}.0-{r.randint(10, 99)}-generic",
            f"RIP: 0010:ext4_mb_regular_allocator+0x{hexs(r, 3)}/0x{hexs(r, 4)}",
            *regs(r),
            *call_trace(r, ["ext4_mb_new_blocks", "ext4_ext_map_blocks"]),
        ],
    )


@cause("kernel", "kernel-hung-task")
def _(r: random.Random) -> str:
    return dmesg(
        r,
        [
            f"INFO: task {'jbd2/' + part(r) + '-8'}:{r.randint(100, 9999)} blocked for more than {r.choice([120, 241, 362])} seconds.",
            f"      Not tainted {r.randint(5, 6)}.{r.randint(0, 19)}.0-{r.randint(10, 99)}-generic #{r.randint(10, 200)}-Ubuntu",
            '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
            *call_trace(r, ["__schedule", "schedule", "io_schedule"]),
        ],
    )


@cause("kernel", "kernel-usb-disconnect-error")
def _(r: random.Random) -> str:
    return dmesg(
        r,
        [
            f"usb {r.randint(1, 4)}-{r.randint(1, 6)}: new high-speed USB device number {r.randint(2, 30)} using xhci_hcd",
            f"usb {r.randint(1, 4)}-{r.randint(1, 6)}: device descriptor read/64, error -{r.choice([71, 110])}",
            f"usb usb{r.randint(1, 4)}-port{r.randint(1, 6)}: unable to enumerate USB device",
        ],
    )


@cause("kernel", "kernel-nvme-timeout")
def _(r: random.Random) -> str:
    n = f"nvme{r.randint(0, 2)}"
    return dmesg(
        r,
        [
            f"{n}: I/O {r.randint(1, 1000)} (Write) QID {r.randint(1, 16)} timeout, aborting",
            f"{n}: Abort status: 0x0",
            f"{n}: I/O {r.randint(1, 1000)} QID {r.randint(1, 16)} timeout, reset controller",
            f"{n}n1: I/O Cmd(0x{hexs(r, 1)}) @ LBA {r.randint(1000, 99999999)}, {r.randint(1, 256)} blocks, I/O Error (sct 0x3 / sc 0x71)",
        ],
    )


@cause("kernel", "kernel-soft-lockup")
def _(r: random.Random) -> str:
    return dmesg(
        r,
        [
            f"watchdog: BUG: soft lockup - CPU#{r.randint(0, 15)} stuck for {r.randint(22, 60)}s! [migration/{r.randint(0, 15)}:{r.randint(0, 99)}]",
            f"CPU: {r.randint(0, 15)} PID: {r.randint(10, 99)} Comm: migration/{r.randint(0, 15)}",
            f"RIP: 0010:smp_call_function_many_cond+0x{hexs(r, 3)}/0x{hexs(r, 3)}",
            *regs(r),
        ],
    )


def main(out: Path = OUT) -> None:
    rng = random.Random(SEED)
    if out.exists():
        shutil.rmtree(out)
    for fmt, causes in sorted(CAUSES.items()):
        folder = out / fmt
        folder.mkdir(parents=True)
        for name, function in sorted(causes.items()):
            for i in range(PER_CAUSE):
                (folder / f"{name}--{i:02d}.txt").write_text(function(rng) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
