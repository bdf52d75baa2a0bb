"""Binance's official futures connector (binance-futures-connector 4.2.0)
against driftwatch's simulator, as a bot would use it. Run by tests/binance.rs.

Arguments: the simulator's base URL, the API key, its secret. Prints one JSON
object of what the connector saw and got.
"""

import json
import sys

from binance.error import ClientError
from binance.um_futures import UMFutures

url, key, secret = sys.argv[1:4]
out = {}
client = UMFutures(key=key, secret=secret, base_url=url)
out["server_time"] = client.time()["serverTime"] > 0
out["positions"] = {p["symbol"]: p["positionAmt"] for p in client.get_position_risk()}

# A reduce-only MARKET close of the ETH long, with a client order id.
out["close"] = client.new_order(
    symbol="ETHUSDT",
    side="SELL",
    type="MARKET",
    quantity="0.05",
    reduceOnly="true",
    newClientOrderId="dw-sdk-close-1",
    newOrderRespType="RESULT",
)
out["query"] = client.query_order(symbol="ETHUSDT", origClientOrderId="dw-sdk-close-1")
out["after"] = {p["symbol"]: p["positionAmt"] for p in client.get_position_risk()}

# Flat now: another reduce-only order has nothing to reduce.
try:
    client.new_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.01", reduceOnly="true")
    out["nothing_to_reduce"] = "accepted"
except ClientError as e:
    out["nothing_to_reduce"] = e.error_code

# A wrong secret: the signature does not verify.
try:
    UMFutures(key=key, secret="0" * 64, base_url=url).get_position_risk()
    out["bad_signature"] = "accepted"
except ClientError as e:
    out["bad_signature"] = e.error_code

print(json.dumps(out))
