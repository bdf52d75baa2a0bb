"""The 2025-11-10 incident as a Freqtrade database, with Freqtrade's OWN code.

`driftwatch demo --bot freqtrade` embeds the file this writes
(``incident.sqlite``): the 16 open trades the incident report lists (15 for
positions long closed on the exchange, and ZEC, whose trade says *long* 0.1
while the exchange holds a short), each opened by ``generate.py``'s
``place_entry`` + ``fill`` (``Trade``, ``Order.parse_from_ccxt_object``,
``Trade.update_trade``: what ``FreqtradeBot`` does on an entry fill), on
Pacifica-style pairs ``<SYMBOL>/USDC:USDC``. Same freqtrade version, venv and
determinism as ``generate.py``.

Run: /work/venvs/freqtrade/bin/python testdata/freqtrade/generate_incident.py
"""

import logging
import os
import sys
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate as g  # noqa: E402  (the fixture's own helpers)
from freqtrade.persistence import Trade, init_db  # noqa: E402

# (symbol, amount, entry price): the incident report's rows.
ROWS = [
    ("VIRTUAL", 49.5, 1.6078), ("FARTCOIN", 235.9, 0.3376), ("2Z", 180.0, 0.1992),
    ("BNB", 0.05, 1015.19), ("XRP", 30.0, 2.4251), ("ASTER", 53.9, 1.1244),
    ("PENGU", 4048.0, 0.0158), ("LDO", 64.7, 0.8621), ("CRV", 112.9, 0.4928),
    ("ENA", 207.0, 0.3410), ("XPL", 242.0, 0.3286), ("WLFI", 601.0, 0.1324),
    ("PUMP", 15296.0, 0.0043), ("MON", 549.0, 0.0592), ("ZEC", 0.1, 649.2),
    ("SUI", 25.8, 2.1764),
]


def main():
    logging.basicConfig(level=logging.WARNING)
    path = os.path.join(g.HERE, "incident.sqlite")
    if os.path.exists(path):
        os.remove(path)
    for symbol, _, _ in ROWS:
        g.PRECISION[f"{symbol}/USDC:USDC"] = (0.0001, 0.0001)
    g.EXCHANGE = "pacifica"
    init_db(f"sqlite:///{path}")
    for i, (symbol, amount, price) in enumerate(ROWS):
        when = g.T0 + timedelta(minutes=i)
        t, o = g.place_entry(f"20000000{i:02d}", f"{symbol}/USDC:USDC", False, amount, price, 2.0,
                             when, "vwm_momentum")
        g.fill(t, o, when + timedelta(seconds=1))
    g.summary()
    Trade.session.remove()
    Trade.session.get_bind().dispose()
    g.normalize_sqlite(path)


if __name__ == "__main__":
    main()
