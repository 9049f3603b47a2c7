"""python3 -m gitea_emulator: a stand-in for Gitea 1.26.3 (see README.md).

    --listen HOST:PORT     where to listen (127.0.0.1:3000)
    --root-url URL         Gitea's ROOT_URL (http://HOST:PORT/)
    --data DIR             where the bare repositories live (a temp dir)
    --seed FILE            YAML or JSON seed (seed.py describes it)
    --allowed-hosts LIST   [webhook] ALLOWED_HOST_LIST (Gitea's default: external)
    --pid-file FILE        write the pid once listening
"""

import argparse
import json
import os
import signal
import sys
import tempfile

from . import model
from .app import App
from .server import Server
from . import seed as seeding


def main(argv=None):
    p = argparse.ArgumentParser(prog="gitea-emulator")
    p.add_argument("--listen", default="127.0.0.1:3000")
    p.add_argument("--root-url")
    p.add_argument("--data")
    p.add_argument("--seed")
    p.add_argument("--allowed-hosts", default="external")
    p.add_argument("--pid-file")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    state = model.State(a.root_url or f"http://{a.listen}/")
    app = App(state, a.data or tempfile.mkdtemp(prefix="gitea-emulator-"), a.allowed_hosts)
    if a.seed:
        with open(a.seed, encoding="utf-8") as f:
            text = f.read()
        if a.seed.endswith(".json"):
            doc = json.loads(text)
        else:
            import yaml
            doc = yaml.safe_load(text)
        with state.lock:
            seeding.apply(app, doc or {})
    srv = Server((host, int(port)), app, verbose=a.verbose)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if a.pid_file:
        with open(a.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    print(f"gitea-emulator listening on {a.listen} (ROOT_URL {state.root_url})",
          file=sys.stderr, flush=True)
    try:
        srv.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
