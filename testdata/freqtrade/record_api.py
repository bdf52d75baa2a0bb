"""Record real Freqtrade REST API responses over the fixture database.

Made with freqtrade 2026.9 (PyPI), FastAPI 0.165.0, uvicorn, PyJWT.

What is real: Freqtrade's own ApiServer (freqtrade.rpc.api_server.ApiServer)
is started the way the bot starts it (uvicorn in its "FTUvicorn" thread,
listening on 127.0.0.1), with Freqtrade's own RPC class
(freqtrade.rpc.RPC) attached, over the Trade/Order rows of tradesv3.sqlite
(a temporary copy, opened with freqtrade.persistence.init_db). The requests
below are plain HTTP from this script, so the recorded bodies are exactly what
the server sent: routing, auth dependencies (HTTP basic / JWT), the
OpenTradeSchema response_model filtering and the orjson rendering all ran.

What is stubbed: the FreqtradeBot object handed to RPC. Only what
RPC._rpc_trade_status touches is provided: ``config`` and an ``exchange``
whose ``get_rate`` returns the fixed "current" prices in MARK below (a real bot
would ask the exchange). No fiat_display_currency, so profit_fiat stays null.

Outputs (beside this script):
  api_login.json   body of POST /api/v1/token/login (HTTP basic auth).
                   The tokens are real HS256 JWTs signed with JWT_SECRET below
                   (a fixture-only secret); they differ on every run because
                   Freqtrade stamps iat/exp from the wall clock (access 15 min,
                   refresh 30 days).
  api_status.json  body of GET /api/v1/status with "Authorization: Bearer
                   <access_token>"; the script asserts that the same request
                   with HTTP basic auth returns the identical body.

How to run (after generate.py made tradesv3.sqlite):
  /work/venvs/freqtrade/bin/python testdata/freqtrade/record_api.py
"""

import base64
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from freqtrade import __version__ as ft_version
from freqtrade.enums import RunMode, State
from freqtrade.persistence import Trade, init_db
from freqtrade.rpc import RPC
from freqtrade.rpc.api_server import ApiServer


HERE = os.path.dirname(os.path.abspath(__file__))
USERNAME = "driftwatch"
PASSWORD = "fixture-password"  # noqa: S105 - fixture only
JWT_SECRET = "driftwatch-fixture-jwt-secret-not-a-real-secret"  # noqa: S105

# "current" prices the stub exchange reports (RPC uses them for profit fields)
MARK = {
    "BTC/USDC:USDC": 98250.5,
    "ETH/USDC:USDC": 3390.75,
    "SOL/USDC:USDC": 195.5,
    "HYPE/USDC:USDC": 24.5,
}


class StubExchange:
    def get_rate(self, pair, *, side, is_short, refresh=False, **kwargs):
        return MARK[pair]


class StubBot:
    """The part of FreqtradeBot that RPC._rpc_trade_status uses."""

    def __init__(self, config):
        self.config = config
        self.exchange = StubExchange()
        self.state = State.RUNNING
        self._exit_lock = threading.Lock()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base, method, path, *, basic=None, bearer=None):
    req = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
    if basic:
        cred = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {cred}")
    if bearer:
        req.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("content-type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read()


def write_raw(name, raw):
    # Byte-for-byte the response body (compact orjson output, no trailing newline).
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(raw)


def main():
    src = os.path.join(HERE, "tradesv3.sqlite")
    if not os.path.exists(src):
        sys.exit("run generate.py first")
    tmpdir = tempfile.mkdtemp(prefix="ft_record_api_")
    db = os.path.join(tmpdir, "tradesv3.sqlite")
    shutil.copy(src, db)
    init_db(f"sqlite:///{db}")

    port = free_port()
    config = {
        "runmode": RunMode.DRY_RUN,
        "dry_run": True,
        "stake_currency": "USDC",
        "trading_mode": "futures",
        "margin_mode": "isolated",
        "exchange": {"name": "hyperliquid"},
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": port,
            "verbosity": "error",
            "enable_openapi": False,
            "jwt_secret_key": JWT_SECRET,
            "CORS_origins": [],
            "username": USERNAME,
            "password": PASSWORD,
        },
    }
    api = ApiServer(config)  # starts uvicorn in the FTUvicorn thread
    api.add_rpc_handler(RPC(StubBot(config)))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            if request(base, "GET", "/api/v1/ping")[0] == 200:
                break
            time.sleep(0.05)

        st, ct, login = request(base, "POST", "/api/v1/token/login", basic=(USERNAME, PASSWORD))
        assert st == 200, (st, login)
        print("login", st, ct, sorted(json.loads(login)))
        tokens = json.loads(login)

        st, _, bad = request(base, "POST", "/api/v1/token/login", basic=(USERNAME, "wrong"))
        print("login wrong password", st, bad.decode())

        st, _, refreshed = request(
            base, "POST", "/api/v1/token/refresh", bearer=tokens["refresh_token"]
        )
        print("refresh (bearer refresh_token)", st, sorted(json.loads(refreshed)))
        st, _, body = request(base, "POST", "/api/v1/token/refresh", bearer=tokens["access_token"])
        print("refresh with access_token", st, body.decode())

        st, ct, status_jwt = request(base, "GET", "/api/v1/status", bearer=tokens["access_token"])
        assert st == 200, (st, status_jwt)
        print("status (bearer)", st, ct, len(json.loads(status_jwt)), "trades")
        st, _, status_basic = request(base, "GET", "/api/v1/status", basic=(USERNAME, PASSWORD))
        print("status (basic)", st, "identical body:", status_basic == status_jwt)
        assert status_basic == status_jwt
        st, _, body = request(base, "GET", "/api/v1/status")
        print("status (no auth)", st, body.decode())
        st, _, body = request(base, "GET", "/api/v1/status", bearer=tokens["refresh_token"])
        print("status (refresh token as bearer)", st, body.decode())

        write_raw("api_login.json", login)
        write_raw("api_status.json", status_jwt)
        print(f"freqtrade {ft_version}: wrote api_login.json, api_status.json")
    finally:
        api.cleanup()
        ApiServer.shutdown()
        Trade.session.remove()
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
