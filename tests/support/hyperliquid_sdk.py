"""Hyperliquid's official Python SDK (hyperliquid-python-sdk 0.24.0) against
driftwatch's simulator, as a bot would use it. Run by tests/hyperliquid.rs.

Arguments: the simulator's base URL, the master's key, an approved agent's
key. The SDK signs for testnet whenever its URL is not mainnet's, so the
simulator runs with testnet signing. Prints one JSON object of what the SDK
saw and got.
"""

import copy
import json
import sys

import requests
from eth_account import Account
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.signing import (
    get_timestamp_ms,
    order_request_to_order_wire,
    order_wires_to_order_action,
    sign_l1_action,
)

url, master_key, agent_key = sys.argv[1:4]
master = Account.from_key(master_key)
agent = Account.from_key(agent_key)
out = {}

info = Info(url, skip_ws=True)
state = info.user_state(master.address)
out["positions"] = {p["position"]["coin"]: p["position"]["szi"] for p in state["assetPositions"]}

# The master closes its ETH long the SDK's way: a reduce-only IOC at 5 % slippage.
out["master_close"] = Exchange(master, url).market_close("ETH")

# An approved agent closes the master's SOL short (reads use the master's address).
out["agent_close"] = Exchange(agent, url, account_address=master.address).market_close("SOL")

# A tampered request: signed for one size, sent with another.
wire = order_request_to_order_wire(
    {
        "coin": "BTC",
        "is_buy": False,
        "sz": 0.001,
        "limit_px": 90000.0,
        "order_type": {"limit": {"tif": "Ioc"}},
        "reduce_only": True,
    },
    0,
)
action = order_wires_to_order_action([wire])
nonce = get_timestamp_ms()
signature = sign_l1_action(master, action, None, nonce, None, False)
tampered = copy.deepcopy(action)
tampered["orders"][0]["s"] = "0.002"
r = requests.post(
    url + "/exchange",
    json={"action": tampered, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None},
    timeout=5,
)
out["tampered"] = r.json()
# The untampered original is accepted.
r = requests.post(
    url + "/exchange",
    json={"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None},
    timeout=5,
)
out["original"] = r.json()
out["after"] = {p["position"]["coin"]: p["position"]["szi"] for p in info.user_state(master.address)["assetPositions"]}
print(json.dumps(out))
