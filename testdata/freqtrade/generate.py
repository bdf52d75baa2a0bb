"""Build a small Freqtrade trade database with Freqtrade's OWN persistence code.

Made with freqtrade 2026.9 (PyPI), SQLAlchemy 2.1.9, Python 3.11.

Everything written to the database goes through freqtrade.persistence:
``init_db`` creates the schema (same DDL and migrations a running bot uses),
trades are ``Trade`` objects and orders ``Order`` objects built with
``Order.parse_from_ccxt_object`` from ccxt-shaped order dicts, fills are applied
with ``Trade.update_order`` + ``Trade.update_trade`` (the calls
``FreqtradeBot.update_trade_state`` makes), and closed trades are closed by
``Trade.update_trade`` -> ``Trade.close`` exactly like the bot's exit path
(``FreqtradeBot.execute_trade_exit`` then ``update_trade_state``).
Only the "exchange" is simulated: the ccxt order dicts, fee rates and the
liquidation prices are fixed numbers chosen here.

Determinism: all timestamps are fixed (tz-aware UTC, as the bot passes them;
stored naive UTC). The one value Freqtrade stamps with the wall clock,
``orders.order_update_date`` (Order.update_from_ccxt_object), is overwritten
with the order's fill/placement time, and for SQLite the finished file is
rebuilt with indexes in name order (see normalize_sqlite: SQLAlchemy emits
CREATE INDEX in a random order) and left in WAL mode as Freqtrade leaves it,
so the file is byte-for-byte reproducible.

Contents (exchange "hyperliquid", stake USDC, trading_mode FUTURES):
  id pair            side  state   notes
  1  BTC/USDC:USDC   long  open    entry filled
  2  ETH/USDC:USDC   short open    entry filled
  3  SOL/USDC:USDC   long  closed  exit_signal, profit
  4  HYPE/USDC:USDC  short closed  force_exit, profit
  5  HYPE/USDC:USDC  long  open    same pair as closed trade 4
  6  BTC/USDC:USDC   short closed  stop_loss, loss (same pair as open long 1)
  7  SOL/USDC:USDC   short open    entry filled + exit limit order still OPEN
  8  ETH/USDC:USDC   long  open    entry limit order still OPEN -> amount == 0

How to run (venv outside the repo, e.g.):
  python3 -m venv /work/venvs/freqtrade
  /work/venvs/freqtrade/bin/pip install freqtrade==2026.9 psycopg2-binary
  # SQLite (default output: tradesv3.sqlite beside this script, replaced):
  /work/venvs/freqtrade/bin/python testdata/freqtrade/generate.py
  # or any SQLAlchemy URL, e.g. a throwaway PostgreSQL database:
  createdb -h 127.0.0.1 -U postgres ft_fixture_check
  /work/venvs/freqtrade/bin/python testdata/freqtrade/generate.py \
      postgresql+psycopg2://postgres@127.0.0.1:5432/ft_fixture_check
  dropdb -h 127.0.0.1 -U postgres ft_fixture_check
"""

import logging
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from freqtrade import __version__ as ft_version
from freqtrade.enums import TradingMode
from freqtrade.persistence import Order, Trade, init_db


HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SQLITE = os.path.join(HERE, "tradesv3.sqlite")

EXCHANGE = "hyperliquid"
STAKE = "USDC"
STRATEGY = "DriftwatchFixtureStrategy"
TIMEFRAME_MIN = 5
STOPLOSS = -0.10  # strategy stoploss (ratio), freqtrade scales it by leverage
FEE = 0.00045  # taker fee rate used for fee_open / fee_close
TICK_SIZE = 4  # ccxt precision mode (hyperliquid markets use TICK_SIZE)

# pair -> (amount_precision, price_precision); contract_size 1.0 on hyperliquid
PRECISION = {
    "BTC/USDC:USDC": (0.00001, 0.1),
    "ETH/USDC:USDC": (0.0001, 0.01),
    "SOL/USDC:USDC": (0.01, 0.001),
    "HYPE/USDC:USDC": (0.01, 0.001),
}

T0 = datetime(2025, 1, 6, 14, 30, 0, tzinfo=UTC)


def ts(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def ccxt_order(
    oid, pair, side, amount, price, when, *, status="open", filled=0.0, fill_time=None,
    reduce_only=False,
):
    """A ccxt-unified order dict as Exchange.create_order / fetch_order return it."""
    o = {
        "id": str(oid),
        "clientOrderId": None,
        "symbol": pair,
        "type": "limit",
        "side": side,
        "price": price,
        "average": price if filled else None,
        "amount": amount,
        "filled": filled,
        "remaining": round(amount - filled, 10),
        "cost": round(filled * price, 10),
        "status": status,
        "timestamp": ts(when),
        "datetime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "lastTradeTimestamp": ts(fill_time) if fill_time else None,
        "reduceOnly": reduce_only,
        "fee": None,
        "info": {},
    }
    return o


def place_entry(oid, pair, is_short, amount, price, leverage, open_date, enter_tag):
    """FreqtradeBot.execute_entry(): new Trade with amount=0 + its (open) entry order."""
    side = "sell" if is_short else "buy"
    order = ccxt_order(oid, pair, side, amount, price, open_date)
    order_obj = Order.parse_from_ccxt_object(order, pair, side, amount, price)
    order_obj.ft_order_tag = enter_tag
    amount_precision, price_precision = PRECISION[pair]
    trade = Trade(
        pair=pair,
        base_currency=pair.split("/")[0],
        stake_currency=STAKE,
        stake_amount=amount * price / leverage,
        amount=0,
        is_open=True,
        amount_requested=amount,
        fee_open=FEE,
        fee_close=FEE,
        open_rate=price,
        open_rate_requested=price,
        open_date=open_date,
        exchange=EXCHANGE,
        strategy=STRATEGY,
        enter_tag=enter_tag,
        timeframe=TIMEFRAME_MIN,
        leverage=leverage,
        is_short=is_short,
        trading_mode=TradingMode.FUTURES,
        funding_fees=0.0,
        amount_precision=amount_precision,
        price_precision=price_precision,
        precision_mode=TICK_SIZE,
        precision_mode_price=TICK_SIZE,
        contract_size=1.0,
    )
    trade.adjust_stop_loss(trade.open_rate, STOPLOSS, initial=True)
    trade.orders.append(order_obj)
    trade.recalc_trade_from_orders()
    Trade.session.add(trade)
    Trade.commit()
    order_obj.order_update_date = open_date
    Trade.commit()
    return trade, order


def fill(trade, order, fill_time, *, liquidation_price=None):
    """FreqtradeBot.update_trade_state() for an order the exchange reports closed."""
    filled = dict(
        order,
        status="closed",
        filled=order["amount"],
        remaining=0.0,
        average=order["price"],
        cost=round(order["amount"] * order["price"], 10),
        lastTradeTimestamp=ts(fill_time),
    )
    trade.update_order(filled)  # Order.update_from_ccxt_object
    order_obj = trade.select_order_by_order_id(filled["id"])
    # handle_order_fee -> get_real_amount -> Trade.update_fee (fee paid in USDC)
    trade.update_fee(round(filled["cost"] * FEE, 10), STAKE, FEE, filled["side"])
    trade.update_trade(order_obj)  # closes the trade when an exit fills the position
    if order_obj.ft_order_side == trade.entry_side:
        # _update_trade_after_fill
        trade.adjust_stop_loss(trade.open_rate, STOPLOSS, initial=True)
        trade.set_liquidation_price(liquidation_price)
    order_obj.order_update_date = fill_time
    Trade.commit()


def place_exit(oid, trade, limit, when, exit_reason, funding_fee=0.0):
    """FreqtradeBot.execute_trade_exit(): reduce-only exit order for the whole position."""
    trade.set_funding_fees(funding_fee)
    order = ccxt_order(oid, trade.pair, trade.exit_side, trade.amount, limit, when,
                       reduce_only=True)
    order_obj = Order.parse_from_ccxt_object(
        order, trade.pair, trade.exit_side, trade.amount, limit
    )
    order_obj.ft_order_tag = exit_reason
    trade.orders.append(order_obj)
    trade.exit_order_status = ""
    trade.close_rate_requested = limit
    trade.exit_reason = exit_reason
    Trade.commit()
    order_obj.order_update_date = when
    Trade.commit()
    return order


def build():
    # 1 BTC long, open
    t, o = place_entry("1000000001", "BTC/USDC:USDC", False, 0.0125, 97000.5, 3.0,
                       T0, "breakout")
    fill(t, o, T0 + timedelta(seconds=2), liquidation_price=65000.5)

    # 2 ETH short, open
    t, o = place_entry("1000000002", "ETH/USDC:USDC", True, 1.5, 3412.25, 5.0,
                       T0 + timedelta(minutes=5), "mean_revert")
    fill(t, o, T0 + timedelta(minutes=5, seconds=1), liquidation_price=4060.5)

    # 3 SOL long, closed with profit (exit signal)
    t, o = place_entry("1000000003", "SOL/USDC:USDC", False, 20.0, 187.35, 2.0,
                       T0 + timedelta(minutes=10), "breakout")
    fill(t, o, T0 + timedelta(minutes=10, seconds=3), liquidation_price=95.125)
    o = place_exit("1000000004", t, 195.1, T0 + timedelta(hours=3), "exit_signal",
                   funding_fee=-0.0625)
    fill(t, o, T0 + timedelta(hours=3, seconds=4))

    # 4 HYPE short, closed with profit (force exit, as /forceexit would do)
    t, o = place_entry("1000000005", "HYPE/USDC:USDC", True, 150.0, 24.818, 3.0,
                       T0 + timedelta(minutes=15), "mean_revert")
    fill(t, o, T0 + timedelta(minutes=15, seconds=2), liquidation_price=32.5)
    o = place_exit("1000000006", t, 23.5, T0 + timedelta(hours=5), "force_exit",
                   funding_fee=0.125)
    fill(t, o, T0 + timedelta(hours=5, seconds=1))

    # 5 HYPE long, open (same pair as closed trade 4)
    t, o = place_entry("1000000007", "HYPE/USDC:USDC", False, 80.0, 23.75, 3.0,
                       T0 + timedelta(hours=5, minutes=10), "breakout")
    fill(t, o, T0 + timedelta(hours=5, minutes=10, seconds=2), liquidation_price=16.25)

    # 6 BTC short, closed at a loss (stop loss), same pair as open long 1
    t, o = place_entry("1000000008", "BTC/USDC:USDC", True, 0.004, 96500.0, 4.0,
                       T0 + timedelta(minutes=20), "mean_revert")
    fill(t, o, T0 + timedelta(minutes=20, seconds=1), liquidation_price=119000.0)
    o = place_exit("1000000009", t, 98900.0, T0 + timedelta(hours=1), "stop_loss")
    fill(t, o, T0 + timedelta(hours=1, seconds=1))

    # 7 SOL short, open position with a resting (unfilled) exit order
    t, o = place_entry("1000000010", "SOL/USDC:USDC", True, 12.5, 201.4, 2.0,
                       T0 + timedelta(hours=6), "mean_revert")
    fill(t, o, T0 + timedelta(hours=6, seconds=2), liquidation_price=295.5)
    place_exit("1000000011", t, 190.0, T0 + timedelta(hours=7), "roi")

    # 8 ETH long, entry limit order not filled yet: is_open=True, amount=0
    place_entry("1000000012", "ETH/USDC:USDC", False, 0.75, 3300.0, 2.0,
                T0 + timedelta(hours=8), "breakout")


def summary():
    for t in Trade.session.scalars(select(Trade).order_by(Trade.id)):
        print(
            f"trade {t.id} {t.pair} short={t.is_short} open={t.is_open} amount={t.amount} "
            f"open_rate={t.open_rate} lev={t.leverage} close_rate={t.close_rate} "
            f"close_date={t.close_date} exit_reason={t.exit_reason} "
            f"close_profit_abs={t.close_profit_abs} orders="
            + ",".join(f"{o.ft_order_side}:{o.status}" for o in t.orders)
        )


def main():
    logging.basicConfig(level=logging.WARNING)
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{DEFAULT_SQLITE}"
    if url.startswith("sqlite:///") and url != "sqlite:///":
        path = url[len("sqlite:///"):]
        if os.path.exists(path):
            os.remove(path)
    print(f"freqtrade {ft_version} -> {url}")
    init_db(url)
    build()
    summary()
    Trade.session.remove()
    Trade.session.get_bind().dispose()
    if url.startswith("sqlite:///"):
        normalize_sqlite(url[len("sqlite:///"):])


def normalize_sqlite(path):
    """Make the SQLite file byte-for-byte reproducible.

    SQLAlchemy iterates ``Table.indexes`` (a set of objects hashed by id), so the
    CREATE INDEX statements come out in a different order on every run and the
    file's page layout changes. Rebuild the file from Freqtrade's own schema
    text and rows: tables in Freqtrade's order, explicit indexes sorted by name,
    rows copied in rowid order, then back to WAL mode. Schema SQL and every
    value stay as Freqtrade wrote them.
    """
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    src = sqlite3.connect(path)
    rows = src.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    src.close()
    tables = [(n, sql) for t, n, sql in rows if t == "table"]
    indexes = sorted((n, sql) for t, n, sql in rows if t == "index")
    dst = sqlite3.connect(tmp)
    dst.execute("ATTACH DATABASE ? AS src", (path,))
    for name, sql in tables:
        dst.execute(sql)
        dst.execute(f'INSERT INTO main."{name}" SELECT * FROM src."{name}" ORDER BY rowid')
    for _name, sql in indexes:
        dst.execute(sql)
    dst.commit()
    dst.execute("DETACH DATABASE src")
    dst.execute("VACUUM")
    # init_db -> check_migrate -> set_sqlite_to_wal (migrations.py) leaves every
    # Freqtrade SQLite file in WAL mode; keep that (file header bytes 18/19 = 2).
    dst.execute("PRAGMA journal_mode=wal")
    dst.close()  # last connection closed: WAL checkpointed, -wal/-shm removed
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
