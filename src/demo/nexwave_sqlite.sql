-- shared/botdb/nexwave_positions.sql, in SQLite's types (same columns,
-- same constraints; amounts stay floats, as the bot has them).
CREATE TABLE positions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    strategy_id         TEXT             NOT NULL,
    symbol              TEXT             NOT NULL,
    side                TEXT             NOT NULL,
    amount              DOUBLE PRECISION NOT NULL,
    entry_price         DOUBLE PRECISION NOT NULL,
    current_price       DOUBLE PRECISION,
    unrealized_pnl      DOUBLE PRECISION,
    realized_pnl        DOUBLE PRECISION NOT NULL,
    trailing_stop_price DOUBLE PRECISION,
    opened_at           TEXT             NOT NULL,
    updated_at          TEXT             NOT NULL,
    metadata            TEXT,
    CONSTRAINT uq_positions_strategy_symbol UNIQUE (strategy_id, symbol)
);
CREATE INDEX idx_positions_strategy_symbol ON positions (strategy_id, symbol);
