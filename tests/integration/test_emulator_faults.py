"""Gitea emulator conformance: fault switches (POST /_emulator/faults).

500 answers for a while, stalls past a client's timeout, refused
connections; each time the emulator then serves again with its state
intact.  Each test has its own emulator, since faults hit every client.
"""

import time

import pytest
import requests

from emulator import ADMIN_TOKEN
from emulator_helpers import Git, Receiver, add_hook, wait_for

AUTH = {"Authorization": f"token {ADMIN_TOKEN}"}


def get(gitea, path, timeout=5):
    return requests.get(gitea.url + "/api/v1" + path, headers=AUTH, timeout=timeout)


def test_500_for_a_while_then_recovers(gitea):
    issue = gitea.post("/repos/acme/widgets/issues", json={"title": "before the fault"}).json()
    t0 = time.monotonic()
    gitea.faults("500", seconds=1.0)
    r = get(gitea, "/version")
    assert r.status_code == 500
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"message": "", "url": gitea.root_url + "api/swagger"}
    assert get(gitea, "/repos/acme/widgets").status_code == 500
    assert requests.post(gitea.url + "/api/v1/repos/acme/widgets/issues", headers=AUTH,
                         json={"title": "during"}, timeout=5).status_code == 500
    r = requests.get(gitea.url + "/acme/widgets.git/info/refs?service=git-upload-pack",
                     timeout=5)
    assert r.status_code == 500
    # The controls are not affected.
    assert "repos" in gitea.state()
    while time.monotonic() - t0 < 1.1:
        time.sleep(0.05)
    assert get(gitea, "/version").json() == {"version": "1.26.3"}
    got = gitea.get(f"/repos/acme/widgets/issues/{issue['number']}")
    assert got.status_code == 200 and got.json()["title"] == "before the fault"
    titles = [i["title"] for i in gitea.get("/repos/acme/widgets/issues").json()]
    assert "during" not in titles


def test_fault_mode_none_ends_a_fault_early(gitea):
    gitea.faults("500", seconds=60)
    assert get(gitea, "/version").status_code == 500
    gitea.faults("none")
    assert get(gitea, "/version").status_code == 200


def test_stall_delays_answers_past_a_client_timeout(gitea):
    t0 = time.monotonic()
    gitea.faults("stall", seconds=1.0, stall=1.2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(gitea, "/version", timeout=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(gitea, "/repos/acme/widgets", timeout=0.3)
    # A patient client gets its answer, late.
    t1 = time.monotonic()
    r = get(gitea, "/version", timeout=5)
    assert r.status_code == 200 and time.monotonic() - t1 >= 1.1
    while time.monotonic() - t0 < 1.1:
        time.sleep(0.05)
    t1 = time.monotonic()
    assert get(gitea, "/repos/acme/widgets", timeout=0.5).status_code == 200
    assert time.monotonic() - t1 < 0.5


def test_refuse_then_serves_again_with_state_intact(gitea, tmp_path):
    rx = Receiver()
    try:
        add_hook(gitea, "repo:acme/widgets", rx.url, ["issues"])
        tok = gitea.user_token("agent-coder")
        issue = gitea.post("/repos/acme/widgets/issues", json={"title": "survives"}).json()
        before = gitea.state()
        gitea.faults("refuse", seconds=1.0)
        time.sleep(0.5)
        with pytest.raises(requests.exceptions.ConnectionError) as err:
            get(gitea, "/version", timeout=2)
        assert not isinstance(err.value, requests.exceptions.Timeout)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(gitea.url + "/_emulator/state", timeout=2)
        git = Git(tmp_path / "home")
        p = git.run("ls-remote", gitea.clone_url("acme/widgets"), check=False)
        assert p.returncode != 0

        def up():
            try:
                return get(gitea, "/version", timeout=1).status_code == 200
            except requests.exceptions.ConnectionError:
                return False
        wait_for(up, timeout=8, what="the emulator to listen again")
        assert gitea.state() == before
        got = gitea.get(f"/repos/acme/widgets/issues/{issue['number']}", token=tok)
        assert got.status_code == 200 and got.json()["title"] == "survives"
        r = gitea.post("/repos/acme/widgets/issues", token=tok, json={"title": "after"})
        assert r.status_code == 201
        rx.wait(2, timeout=5)
        assert [b for _, b in rx.received if b"\"after\"" in b]
        assert p.returncode != 0
        assert git.run("ls-remote", gitea.clone_url("acme/widgets")).returncode == 0
    finally:
        rx.close()
