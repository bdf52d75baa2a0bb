"""Nado's official Python SDK (nado-protocol 2.0.0) against `driftwatch sim --venue nado`.

Usage: nado_sdk.py GATEWAY_URL   (e.g. http://127.0.0.1:PORT/v1)

Uses the SDK's EngineClient as a bot would: the engine queries (contracts,
symbols, subaccount info, the reduce-only max order size), a reduce-only IOC
that closes part of the SOL-PERP long, signed by the SDK (EIP-712 digest and
signature of its own), and the same order signed by a key that is neither the
owner nor linked, which the gateway must refuse. Prints one JSON object with
what it saw; the Rust test (tests/nado.rs) asserts on it and on the
simulator's state.
"""

import json
import sys
import time

from nado_protocol.engine_client import EngineClient, EngineClientOpts
from nado_protocol.engine_client.types.execute import OrderParams, PlaceOrderParams
from nado_protocol.engine_client.types.query import QueryMaxOrderSizeParams
from nado_protocol.utils.bytes32 import subaccount_to_hex
from nado_protocol.utils.expiration import get_expiration_timestamp
from nado_protocol.utils.math import to_x18
from nado_protocol.utils.nonce import gen_order_nonce
from nado_protocol.utils.order import OrderType, build_appendix
from nado_protocol.utils.subaccount import SubaccountParams

# The signing vectors' test key (never funded) and another, unlinked one.
KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
OTHER = "0x1111111111111111111111111111111111111111111111111111111111111111"
OWNER = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c"


def client(url, key, contracts):
    return EngineClient(
        EngineClientOpts(
            url=url,
            signer=key,
            chain_id=int(contracts.chain_id),
            endpoint_addr=contracts.endpoint_addr,
        )
    )


def order(sender, product_id, price, amount):
    return PlaceOrderParams(
        product_id=product_id,
        order=OrderParams(
            sender=sender,
            priceX18=to_x18(price),
            amount=to_x18(amount),
            expiration=get_expiration_timestamp(60),
            nonce=gen_order_nonce(),
            appendix=build_appendix(OrderType.IOC, reduce_only=True),
        ),
    )


def main():
    url = sys.argv[1]
    out = {}
    reader = EngineClient(EngineClientOpts(url=url))
    contracts = reader.get_contracts()
    out["chain_id"] = int(contracts.chain_id)
    out["endpoint"] = contracts.endpoint_addr
    sub = subaccount_to_hex(SubaccountParams(subaccount_owner=OWNER, subaccount_name="default"))
    out["subaccount"] = sub
    symbols = reader.get_symbols(product_type="perp")
    sol = symbols.symbols["SOL-PERP"]
    product_id = int(sol.product_id)
    out["sol_product_id"] = product_id
    info = reader.get_subaccount_info(sub)
    out["perp_amounts"] = {
        str(b.product_id): str(b.balance.amount) for b in info.perp_balances
    }
    oracle = next(
        int(p.oracle_price_x18) for p in info.perp_products if int(p.product_id) == product_id
    )
    mos = reader.get_max_order_size(
        QueryMaxOrderSizeParams(
            sender=sub,
            product_id=product_id,
            price_x18=str(oracle),
            direction="short",
            reduce_only=True,
        )
    )
    out["max_reduce_only_sell"] = str(mos.max_order_size)

    owner = client(url, KEY, contracts)
    price = oracle / 10**18 * 0.99
    price = round(price, 2)
    sender = SubaccountParams(subaccount_owner=OWNER, subaccount_name="default")
    placed = owner.place_order(order(sender, product_id, price, -0.5))
    out["placed_status"] = placed.status
    out["placed_digest"] = placed.data.digest if placed.data else None

    stranger = client(url, OTHER, contracts)
    try:
        refused = stranger.place_order(order(sender, product_id, price, -0.5))
        out["stranger_status"] = refused.status
        out["stranger_error_code"] = getattr(refused, "error_code", None)
    except Exception as e:  # the SDK raises on a failed execute
        out["stranger_status"] = "failure"
        out["stranger_error"] = str(e)
    time.sleep(0.2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
