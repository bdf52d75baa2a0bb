"""Build a small Hummingbot trade database (``Position`` table) with Hummingbot's OWN code.

Made from the PyPI sdist hummingbot==20260922 (hummingbot/VERSION says
"dev-2.18.0"), SQLAlchemy 2.1.9, Python 3.11.

Why not ``pip install hummingbot``: the package is sdist-only and builds dozens
of Cython extensions plus very heavy deps (web3, injective, solders, ...). The
modules used here are pure Python, so the sdist is unpacked outside the repo and
put on ``sys.path`` (see "How to run").

What is Hummingbot's own code here:
  * Schema: ``hummingbot.model.position.Position`` and
    ``hummingbot.model.metadata.Metadata`` (imported, declarative base
    ``HummingbotBase``; amounts use Hummingbot's ``SqliteDecimal(6)`` =
    BIGINT holding value * 10**6). DDL = what ``metadata.create_all`` emits
    (SQLConnectionManager.__init__), only the CREATE INDEX statements are
    issued in name order so the SQLite file is byte-reproducible.
  * Metadata row: SQLConnectionManager.LOCAL_DB_VERSION_KEY/VALUE, as
    ``check_and_migrate_db`` writes it on a fresh DB.
  * Position rows: the real source of these functions, compiled straight
    from the sdist files (ast; original file names and line numbers kept):
      strategy_v2/executors/executor_orchestrator.py:
        PositionHold (whole class), ExecutorOrchestrator._initialize_cached_performance,
        _load_position_from_db, _update_positions_from_done_executors,
        _determine_position_side, _find_existing_position, store_all_positions
      connector/markets_recorder.py:
        MarketsRecorder.update_or_store_position, get_all_positions
      strategy_v2/executors/data_types.py: PositionSummary
      strategy_v2/models/executors.py: CloseType
    (importing those modules normally would pull in the Cython extensions).
  Only the bot around them is a stub: strategy (controllers, markets, fixed
  mid prices, fixed clock), connectors in ONEWAY position mode, finished
  executors with close_type POSITION_HOLD whose ``custom_info
  ["held_position_orders"]`` are InFlightOrder.to_json()-shaped dicts, and
  ``uuid.uuid4`` (deterministic v4 UUIDs instead of random ones).

Scenario = two bot runs; Hummingbot writes Position rows only in
ExecutorOrchestrator.stop() -> store_all_positions(), i.e. at strategy stop.
  run 1 (stop at 2026-01-15 12:00:00 UTC):
    trend_btc_eth  binance_perpetual BTC-USDT long  0.05 @ 60000
    trend_btc_eth  binance_perpetual ETH-USDT short 1.2  @ 3000
    grid_sol       binance_perpetual SOL-USDT long  10   @ 150
    mm_sol         bybit_perpetual   SOL-USDT short 25   @ 149
  run 2 (startup loads the rows; stop at 2026-01-16 12:00:00 UTC):
    BTC long increased by 0.02 @ 62000          -> BUY row updated, 0.07
    SOL long on grid_sol closed (sell 10 @ 155) -> BUY row updated, amount 0
    ETH short closed (buy 1.2 @ 3050)           -> net 0 is summarised as side
        BUY, so a NEW 'BUY' row with amount 0 is inserted and the 'SELL' row
        keeps amount 1.2 and its run-1 timestamp (stale; Hummingbot behaviour)
    bybit SOL short untouched                   -> rewritten, new timestamp/uPnL
Final rows (rowid order): 1 BTC BUY 0.07 | 2 ETH SELL 1.2 (stale) |
  3 SOL BUY 0 (closed) | 4 bybit SOL SELL 25 | 5 ETH BUY 0 (closed).

How to run (venv + unpacked sdist outside the repo):
  python3 -m venv /work/venvs/hummingbot
  /work/venvs/hummingbot/bin/pip install sqlalchemy==2.1.9 psycopg2-binary numpy pandas pydantic
  /work/venvs/hummingbot/bin/pip download --no-deps hummingbot==20260922 -d /tmp/hb
  mkdir -p /work/venvs/hummingbot-src && tar xzf /tmp/hb/hummingbot-20260922.tar.gz -C /work/venvs/hummingbot-src
  # SQLite (default output: hummingbot_trades.sqlite beside this script, replaced):
  /work/venvs/hummingbot/bin/python testdata/hummingbot/generate.py
  # or a SQLAlchemy URL, e.g. a throwaway PostgreSQL database:
  createdb -h 127.0.0.1 -U postgres hb_fixture_check
  /work/venvs/hummingbot/bin/python testdata/hummingbot/generate.py \
      postgresql+psycopg2://postgres@127.0.0.1:5432/hb_fixture_check
  dropdb -h 127.0.0.1 -U postgres hb_fixture_check
HUMMINGBOT_SRC overrides the sdist directory
(default /work/venvs/hummingbot-src/hummingbot-20260922).
"""

import __future__

import ast
import hashlib
import logging
import os
import sys
import types
import uuid as std_uuid
from collections import deque
from decimal import Decimal
from enum import Enum

HERE = os.path.dirname(os.path.abspath(__file__))
HB_SRC = os.environ.get("HUMMINGBOT_SRC", "/work/venvs/hummingbot-src/hummingbot-20260922")
EXPECTED_SDIST = "hummingbot-20260922"
sys.path.insert(0, HB_SRC)

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.schema import CreateTable  # noqa: E402

import hummingbot.model.metadata as hb_metadata  # noqa: E402
import hummingbot.model.position as hb_position  # noqa: E402
from hummingbot.core.data_type.common import PositionAction, PositionMode, PriceType, TradeType  # noqa: E402
from hummingbot.model.sql_connection_manager import SQLConnectionManager  # noqa: E402

Position = hb_position.Position
Metadata = hb_metadata.Metadata
log = logging.getLogger("hb_fixture")


# --------------------------------------------------------------------------
# Hummingbot source loaded without its (Cython-dependent) module imports
# --------------------------------------------------------------------------
def load_defs(relpath, names, namespace, cls=None, future_annotations=True):
    """Compile the named top-level defs (or methods of class ``cls``) of a
    Hummingbot source file into ``namespace``; returns {name: object}."""
    path = os.path.join(HB_SRC, relpath)
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    body = tree.body
    if cls is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == cls).body
    picked = [n for n in body
              if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in names]
    missing = set(names) - {n.name for n in picked}
    if missing:
        raise SystemExit(f"{relpath}: not found: {sorted(missing)}")
    flags = __future__.annotations.compiler_flag if future_annotations else 0
    code = compile(ast.Module(body=picked, type_ignores=[]), path, "exec", flags=flags, dont_inherit=True)
    exec(code, namespace)
    return {n: namespace[n] for n in names}


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


class DeterministicUUID:
    """Stands in for the ``uuid`` module inside store_all_positions."""

    def __init__(self):
        self.n = 0

    def uuid4(self):
        self.n += 1
        digest = hashlib.sha256(f"driftwatch-hummingbot-fixture-{self.n}".encode()).digest()
        return std_uuid.UUID(bytes=digest[:16], version=4)


class SqlManager:
    def __init__(self, engine):
        self.engine = engine

    def get_new_session(self):
        return Session(self.engine)


def build_framework(engine):
    # CloseType enum and the PositionSummary pydantic model, from their files.
    from pydantic import BaseModel
    ct_mod = module("hb_fixture_executors_models", Enum=Enum)
    close_type = load_defs("hummingbot/strategy_v2/models/executors.py", ["CloseType"],
                           ct_mod.__dict__, future_annotations=False)["CloseType"]
    dt_mod = module("hb_fixture_data_types", BaseModel=BaseModel, Decimal=Decimal, TradeType=TradeType)
    position_summary = load_defs("hummingbot/strategy_v2/executors/data_types.py", ["PositionSummary"],
                                 dt_mod.__dict__, future_annotations=False)["PositionSummary"]

    # MarketsRecorder: only the two Position methods are real.
    mr_ns = module("hb_fixture_markets_recorder", Position=Position, List=list).__dict__
    mr_funcs = load_defs("hummingbot/connector/markets_recorder.py",
                         ["update_or_store_position", "get_all_positions"], mr_ns, cls="MarketsRecorder")

    class MarketsRecorder:
        _instance = None

        def __init__(self, sql_manager):
            self._sql_manager = sql_manager
            MarketsRecorder._instance = self

        @classmethod
        def get_instance(cls):
            return cls._instance

        def get_all_executors(self):
            return []  # the Executors table is not part of this fixture

        update_or_store_position = mr_funcs["update_or_store_position"]
        get_all_positions = mr_funcs["get_all_positions"]

    MarketsRecorder(SqlManager(engine))

    class PerformanceReport:  # stub: only instantiated by _initialize_cached_performance
        pass

    eo_ns = module(
        "hb_fixture_executor_orchestrator",
        logging=logging, uuid=DeterministicUUID(), Decimal=Decimal,
        MarketsRecorder=MarketsRecorder, Position=Position, PositionSummary=position_summary,
        PositionAction=PositionAction, PositionMode=PositionMode, PriceType=PriceType, TradeType=TradeType,
        CloseType=close_type, PerformanceReport=PerformanceReport,
    ).__dict__
    position_hold = load_defs("hummingbot/strategy_v2/executors/executor_orchestrator.py",
                              ["PositionHold"], eo_ns)["PositionHold"]
    eo_ns["PositionHold"] = position_hold
    methods = load_defs("hummingbot/strategy_v2/executors/executor_orchestrator.py",
                        ["_initialize_cached_performance", "_load_position_from_db",
                         "_update_positions_from_done_executors", "_determine_position_side",
                         "_find_existing_position", "store_all_positions"],
                        eo_ns, cls="ExecutorOrchestrator")

    class Orchestrator:
        """ExecutorOrchestrator state + the real methods listed above (set below)."""

        def __init__(self, strategy):
            self.strategy = strategy
            self.active_executors = {}
            self.positions_held = {}
            self.executors_ids_position_held = deque(maxlen=50)
            self.cached_performance = {}
            self.initial_positions_by_controller = {}
            self._initialize_cached_performance()  # as ExecutorOrchestrator.__init__

        def logger(self):
            return log

    for name, fn in methods.items():
        setattr(Orchestrator, name, fn)
    return Orchestrator, close_type


# --------------------------------------------------------------------------
# Stub bot: strategy, connectors, finished executors
# --------------------------------------------------------------------------
CONTROLLERS = ["trend_btc_eth", "grid_sol", "mm_sol"]
MARKETS = {"binance_perpetual": {"BTC-USDT", "ETH-USDT", "SOL-USDT"}, "bybit_perpetual": {"SOL-USDT"}}
T1 = 1768478400.0  # 2026-01-15T12:00:00Z
T2 = T1 + 86400.0  # 2026-01-16T12:00:00Z
MIDS = {
    T1: {("binance_perpetual", "BTC-USDT"): "61000", ("binance_perpetual", "ETH-USDT"): "2950",
         ("binance_perpetual", "SOL-USDT"): "148", ("bybit_perpetual", "SOL-USDT"): "148.1"},
    T2: {("binance_perpetual", "BTC-USDT"): "63000", ("binance_perpetual", "ETH-USDT"): "3100",
         ("binance_perpetual", "SOL-USDT"): "152", ("bybit_perpetual", "SOL-USDT"): "151.9"},
}


def ns(**kw):
    return types.SimpleNamespace(**kw)


def strategy_at(ts):
    prices = MIDS[ts]
    return ns(
        controllers={c: None for c in CONTROLLERS},
        markets=MARKETS,
        connectors={c: ns(position_mode=PositionMode.ONEWAY) for c in MARKETS},
        current_timestamp=ts,
        market_data_provider=ns(get_price_by_type=lambda c, p, _t: Decimal(prices[(c, p)])),
    )


def held_executor(close_type, ex_id, controller_id, connector, pair, side, orders, ts):
    """A finished executor whose executed orders are kept as a position hold."""
    held = []
    for i, (trade_type, amount, price, fee, action) in enumerate(orders):
        amount, price = Decimal(amount), Decimal(price)
        held.append({  # keys as InFlightOrder.to_json()
            "client_order_id": f"{ex_id}-o{i}", "exchange_order_id": f"X-{ex_id}-{i}",
            "trading_pair": pair, "order_type": "MARKET", "trade_type": trade_type,
            "price": str(price), "amount": str(amount),
            "executed_amount_base": str(amount), "executed_amount_quote": str(amount * price),
            "last_state": "5", "leverage": "5", "position": action,
            "creation_timestamp": ts - 3600 + i, "last_update_timestamp": ts - 3600 + i,
            "order_fills": {}, "cumulative_fee_paid_base": 0.0, "cumulative_fee_paid_quote": fee,
        })
    info = ns(id=ex_id, controller_id=controller_id, connector_name=connector, trading_pair=pair,
              is_done=True, close_type=close_type.POSITION_HOLD, config=ns(id=ex_id, side=side),
              custom_info={"held_position_orders": held, "level_id": None})
    return ns(executor_info=info, config=info.config)


def run_bot(orchestrator_cls, close_type, ts, executors_by_controller):
    orch = orchestrator_cls(strategy_at(ts))  # startup: loads stored Position rows
    for cid, executors in executors_by_controller.items():
        orch.active_executors[cid] = [held_executor(close_type, e[0], cid, *e[1:], ts=ts) for e in executors]
    # ExecutorOrchestrator.stop(): convert held executors, then persist positions
    orch._update_positions_from_done_executors()
    orch.store_all_positions()
    return orch


def create_schema(engine):
    """Same DDL as HummingbotBase.metadata.create_all, indexes in name order."""
    tables = [Metadata.__table__, Position.__table__]
    with engine.begin() as conn:
        for t in tables:
            conn.execute(CreateTable(t))
            for idx in sorted(t.indexes, key=lambda i: i.name):
                idx.create(conn)
    with Session(engine) as s:  # SQLConnectionManager.check_and_migrate_db on a fresh DB
        s.add(Metadata(key=SQLConnectionManager.LOCAL_DB_VERSION_KEY,
                       value=SQLConnectionManager.LOCAL_DB_VERSION_VALUE))
        s.commit()


def main():
    if os.path.basename(os.path.normpath(HB_SRC)) != EXPECTED_SDIST:
        log.warning("HUMMINGBOT_SRC is %s, fixture was made from %s", HB_SRC, EXPECTED_SDIST)
    if len(sys.argv) > 1:
        url = sys.argv[1]
    else:
        path = os.path.join(HERE, "hummingbot_trades.sqlite")
        for p in (path, path + "-journal"):
            if os.path.exists(p):
                os.remove(p)
        url = f"sqlite:///{path}"  # DBSqliteMode.get_url
    engine = create_engine(url)
    create_schema(engine)
    orch_cls, close_type = build_framework(engine)

    B, S = TradeType.BUY, TradeType.SELL
    run_bot(orch_cls, close_type, T1, {
        "trend_btc_eth": [
            ("ex-btc-1", "binance_perpetual", "BTC-USDT", B, [("BUY", "0.05", "60000", 1.2, "OPEN")]),
            ("ex-eth-1", "binance_perpetual", "ETH-USDT", S, [("SELL", "1.2", "3000", 1.44, "OPEN")]),
        ],
        "grid_sol": [
            ("ex-sol-1", "binance_perpetual", "SOL-USDT", B,
             [("BUY", "4", "151", 0.24, "OPEN"), ("BUY", "6", "149.5", 0.36, "OPEN")]),
        ],
        "mm_sol": [
            ("ex-bsol-1", "bybit_perpetual", "SOL-USDT", S, [("SELL", "25", "149", 2.05, "OPEN")]),
        ],
    })
    run_bot(orch_cls, close_type, T2, {
        "trend_btc_eth": [
            ("ex-btc-2", "binance_perpetual", "BTC-USDT", B, [("BUY", "0.02", "62000", 0.5, "OPEN")]),
            ("ex-eth-2", "binance_perpetual", "ETH-USDT", B, [("BUY", "1.2", "3050", 1.46, "CLOSE")]),
        ],
        "grid_sol": [
            ("ex-sol-2", "binance_perpetual", "SOL-USDT", S, [("SELL", "10", "155", 0.62, "CLOSE")]),
        ],
    })

    with engine.connect() as conn:
        order = "rowid" if engine.dialect.name == "sqlite" else "timestamp, id"
        rows = conn.execute(text(
            'SELECT controller_id, connector_name, trading_pair, side, amount, breakeven_price, timestamp '
            f'FROM "Position" ORDER BY {order}')).all()
    for r in rows:
        print(*r, sep=" | ")
    # What the next startup would hold in memory (ExecutorOrchestrator._initialize_cached_performance)
    nxt = orch_cls(strategy_at(T2))
    for cid, holds in sorted(nxt.positions_held.items()):
        for h in holds:
            print(f"next start: {cid} {h.connector_name} {h.trading_pair} net={h.net_amount_base}")
    engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
