--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: tradingmode; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.tradingmode AS ENUM (
    'SPOT',
    'MARGIN',
    'FUTURES'
);


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: KeyValueStore; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."KeyValueStore" (
    id integer NOT NULL,
    key character varying(50) NOT NULL,
    value_type character varying(20) NOT NULL,
    string_value character varying(255),
    datetime_value timestamp without time zone,
    float_value double precision,
    int_value integer
);


--
-- Name: KeyValueStore_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public."KeyValueStore_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: KeyValueStore_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public."KeyValueStore_id_seq" OWNED BY public."KeyValueStore".id;


--
-- Name: orders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.orders (
    id integer NOT NULL,
    ft_trade_id integer NOT NULL,
    ft_order_side character varying(25) NOT NULL,
    ft_pair character varying(25) NOT NULL,
    ft_is_open boolean NOT NULL,
    ft_amount double precision NOT NULL,
    ft_price double precision NOT NULL,
    ft_cancel_reason character varying(255),
    order_id character varying(255) NOT NULL,
    status character varying(255),
    symbol character varying(25),
    order_type character varying(50),
    side character varying(25),
    price double precision,
    average double precision,
    amount double precision,
    filled double precision,
    remaining double precision,
    cost double precision,
    stop_price double precision,
    order_date timestamp without time zone,
    order_filled_date timestamp without time zone,
    order_update_date timestamp without time zone,
    funding_fee double precision,
    ft_fee_base double precision,
    ft_order_tag character varying(255)
);


--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.orders_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: orders_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.orders_id_seq OWNED BY public.orders.id;


--
-- Name: pairlocks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.pairlocks (
    id integer NOT NULL,
    pair character varying(25) NOT NULL,
    side character varying(25) NOT NULL,
    reason character varying(255),
    lock_time timestamp without time zone NOT NULL,
    lock_end_time timestamp without time zone NOT NULL,
    active boolean NOT NULL
);


--
-- Name: pairlocks_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.pairlocks_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: pairlocks_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.pairlocks_id_seq OWNED BY public.pairlocks.id;


--
-- Name: trade_custom_data; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.trade_custom_data (
    id integer NOT NULL,
    ft_trade_id integer,
    cd_key character varying(255) NOT NULL,
    cd_type character varying(25) NOT NULL,
    cd_value text NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone
);


--
-- Name: trade_custom_data_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.trade_custom_data_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: trade_custom_data_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.trade_custom_data_id_seq OWNED BY public.trade_custom_data.id;


--
-- Name: trades; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.trades (
    id integer NOT NULL,
    exchange character varying(25) NOT NULL,
    pair character varying(25) NOT NULL,
    base_currency character varying(25),
    stake_currency character varying(25),
    is_open boolean NOT NULL,
    fee_open double precision NOT NULL,
    fee_open_cost double precision,
    fee_open_currency character varying(25),
    fee_close double precision NOT NULL,
    fee_close_cost double precision,
    fee_close_currency character varying(25),
    open_rate double precision NOT NULL,
    open_rate_requested double precision,
    open_trade_value double precision,
    close_rate double precision,
    close_rate_requested double precision,
    realized_profit double precision,
    close_profit double precision,
    close_profit_abs double precision,
    stake_amount double precision NOT NULL,
    max_stake_amount double precision,
    amount double precision NOT NULL,
    amount_requested double precision,
    open_date timestamp without time zone NOT NULL,
    close_date timestamp without time zone,
    stop_loss double precision,
    stop_loss_pct double precision,
    initial_stop_loss double precision,
    initial_stop_loss_pct double precision,
    is_stop_loss_trailing boolean NOT NULL,
    max_rate double precision,
    min_rate double precision,
    exit_reason character varying(255),
    exit_order_status character varying(100),
    strategy character varying(100),
    enter_tag character varying(255),
    timeframe integer,
    trading_mode public.tradingmode,
    amount_precision double precision,
    price_precision double precision,
    precision_mode integer,
    precision_mode_price integer,
    contract_size double precision,
    leverage double precision,
    is_short boolean NOT NULL,
    liquidation_price double precision,
    interest_rate double precision NOT NULL,
    funding_fees double precision,
    funding_fee_running double precision,
    record_version integer NOT NULL
);


--
-- Name: trades_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.trades_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: trades_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.trades_id_seq OWNED BY public.trades.id;


--
-- Name: wallet_history; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.wallet_history (
    id integer NOT NULL,
    "timestamp" timestamp without time zone NOT NULL,
    currency character varying(25) NOT NULL,
    rate double precision,
    quote_currency character varying(25) NOT NULL,
    balance double precision NOT NULL,
    total_quote double precision,
    total_position_value double precision,
    collateral double precision,
    leverage double precision NOT NULL,
    bot_managed boolean NOT NULL
);


--
-- Name: wallet_history_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.wallet_history_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: wallet_history_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.wallet_history_id_seq OWNED BY public.wallet_history.id;


--
-- Name: KeyValueStore id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."KeyValueStore" ALTER COLUMN id SET DEFAULT nextval('public."KeyValueStore_id_seq"'::regclass);


--
-- Name: orders id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders ALTER COLUMN id SET DEFAULT nextval('public.orders_id_seq'::regclass);


--
-- Name: pairlocks id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pairlocks ALTER COLUMN id SET DEFAULT nextval('public.pairlocks_id_seq'::regclass);


--
-- Name: trade_custom_data id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.trade_custom_data ALTER COLUMN id SET DEFAULT nextval('public.trade_custom_data_id_seq'::regclass);


--
-- Name: trades id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.trades ALTER COLUMN id SET DEFAULT nextval('public.trades_id_seq'::regclass);


--
-- Name: wallet_history id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wallet_history ALTER COLUMN id SET DEFAULT nextval('public.wallet_history_id_seq'::regclass);


--
-- Data for Name: KeyValueStore; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.orders VALUES (1, 1, 'buy', 'BTC/USDC:USDC', false, 0.0125, 97000.5, NULL, '1000000001', 'closed', 'BTC/USDC:USDC', 'limit', 'buy', 97000.5, 97000.5, 0.0125, 0.0125, 0, 1212.50625, NULL, '2025-01-06 14:30:00', '2025-01-06 14:30:02', '2025-01-06 14:30:02', 0, NULL, 'breakout');
INSERT INTO public.orders VALUES (8, 6, 'sell', 'BTC/USDC:USDC', false, 0.004, 96500, NULL, '1000000008', 'closed', 'BTC/USDC:USDC', 'limit', 'sell', 96500, 96500, 0.004, 0.004, 0, 386, NULL, '2025-01-06 14:50:00', '2025-01-06 14:50:01', '2025-01-06 14:50:01', 0, NULL, 'mean_revert');
INSERT INTO public.orders VALUES (2, 2, 'sell', 'ETH/USDC:USDC', false, 1.5, 3412.25, NULL, '1000000002', 'closed', 'ETH/USDC:USDC', 'limit', 'sell', 3412.25, 3412.25, 1.5, 1.5, 0, 5118.375, NULL, '2025-01-06 14:35:00', '2025-01-06 14:35:01', '2025-01-06 14:35:01', 0, NULL, 'mean_revert');
INSERT INTO public.orders VALUES (3, 3, 'buy', 'SOL/USDC:USDC', false, 20, 187.35, NULL, '1000000003', 'closed', 'SOL/USDC:USDC', 'limit', 'buy', 187.35, 187.35, 20, 20, 0, 3747, NULL, '2025-01-06 14:40:00', '2025-01-06 14:40:03', '2025-01-06 14:40:03', 0, NULL, 'breakout');
INSERT INTO public.orders VALUES (4, 3, 'sell', 'SOL/USDC:USDC', false, 20, 195.1, NULL, '1000000004', 'closed', 'SOL/USDC:USDC', 'limit', 'sell', 195.1, 195.1, 20, 20, 0, 3902, NULL, '2025-01-06 17:30:00', '2025-01-06 17:30:04', '2025-01-06 17:30:04', -0.0625, NULL, 'exit_signal');
INSERT INTO public.orders VALUES (9, 6, 'buy', 'BTC/USDC:USDC', false, 0.004, 98900, NULL, '1000000009', 'closed', 'BTC/USDC:USDC', 'limit', 'buy', 98900, 98900, 0.004, 0.004, 0, 395.6, NULL, '2025-01-06 15:30:00', '2025-01-06 15:30:01', '2025-01-06 15:30:01', 0, NULL, 'stop_loss');
INSERT INTO public.orders VALUES (5, 4, 'sell', 'HYPE/USDC:USDC', false, 150, 24.818, NULL, '1000000005', 'closed', 'HYPE/USDC:USDC', 'limit', 'sell', 24.818, 24.818, 150, 150, 0, 3722.7, NULL, '2025-01-06 14:45:00', '2025-01-06 14:45:02', '2025-01-06 14:45:02', 0, NULL, 'mean_revert');
INSERT INTO public.orders VALUES (6, 4, 'buy', 'HYPE/USDC:USDC', false, 150, 23.5, NULL, '1000000006', 'closed', 'HYPE/USDC:USDC', 'limit', 'buy', 23.5, 23.5, 150, 150, 0, 3525, NULL, '2025-01-06 19:30:00', '2025-01-06 19:30:01', '2025-01-06 19:30:01', 0.125, NULL, 'force_exit');
INSERT INTO public.orders VALUES (10, 7, 'sell', 'SOL/USDC:USDC', false, 12.5, 201.4, NULL, '1000000010', 'closed', 'SOL/USDC:USDC', 'limit', 'sell', 201.4, 201.4, 12.5, 12.5, 0, 2517.5, NULL, '2025-01-06 20:30:00', '2025-01-06 20:30:02', '2025-01-06 20:30:02', 0, NULL, 'mean_revert');
INSERT INTO public.orders VALUES (7, 5, 'buy', 'HYPE/USDC:USDC', false, 80, 23.75, NULL, '1000000007', 'closed', 'HYPE/USDC:USDC', 'limit', 'buy', 23.75, 23.75, 80, 80, 0, 1900, NULL, '2025-01-06 19:40:00', '2025-01-06 19:40:02', '2025-01-06 19:40:02', 0, NULL, 'breakout');
INSERT INTO public.orders VALUES (11, 7, 'buy', 'SOL/USDC:USDC', true, 12.5, 190, NULL, '1000000011', 'open', 'SOL/USDC:USDC', 'limit', 'buy', 190, NULL, 12.5, 0, 12.5, 0, NULL, '2025-01-06 21:30:00', NULL, '2025-01-06 21:30:00', NULL, NULL, 'roi');
INSERT INTO public.orders VALUES (12, 8, 'buy', 'ETH/USDC:USDC', true, 0.75, 3300, NULL, '1000000012', 'open', 'ETH/USDC:USDC', 'limit', 'buy', 3300, NULL, 0.75, 0, 0.75, 0, NULL, '2025-01-06 22:30:00', NULL, '2025-01-06 22:30:00', NULL, NULL, 'breakout');


--
-- Data for Name: pairlocks; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: trade_custom_data; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: trades; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.trades VALUES (1, 'hyperliquid', 'BTC/USDC:USDC', 'BTC', 'USDC', true, 0.00045, 0.1818759375, 'USDC', 0.00045, NULL, NULL, 97000.5, 97000.5, 1213.0518778125, NULL, NULL, 0, NULL, NULL, 404.16875, 404.16875, 0.0125, 0.0125, '2025-01-06 14:30:00', NULL, 93767.2, -0.1, 93767.2, -0.1, false, 0, NULL, NULL, NULL, 'DriftwatchFixtureStrategy', 'breakout', 5, 'FUTURES', 1e-05, 0.1, 4, 4, 1, 3, false, 65000.5, 0, 0, 0, 2);
INSERT INTO public.trades VALUES (2, 'hyperliquid', 'ETH/USDC:USDC', 'ETH', 'USDC', true, 0.00045, 0.46065375, 'USDC', 0.00045, NULL, NULL, 3412.25, 3412.25, 5116.07173125, NULL, NULL, 0, NULL, NULL, 1023.675, 1023.675, 1.5, 1.5, '2025-01-06 14:35:00', NULL, 3480.49, -0.1, 3480.49, -0.1, false, 0, NULL, NULL, NULL, 'DriftwatchFixtureStrategy', 'mean_revert', 5, 'FUTURES', 0.0001, 0.01, 4, 4, 1, 5, true, 4060.5, 0, 0, 0, 2);
INSERT INTO public.trades VALUES (6, 'hyperliquid', 'BTC/USDC:USDC', 'BTC', 'USDC', false, 0.00045, 0.043425, 'USDC', 0.00045, 0.17802, 'USDC', 96500, 96500, 385.8263, 98900, 98900, -9.95172, -0.10317306000135294, -9.95172, 96.5, 96.5, 0.004, 0.004, '2025-01-06 14:50:00', '2025-01-06 15:30:01', 98912.4, -0.1, 98912.4, -0.1, false, 0, NULL, 'stop_loss', 'closed', 'DriftwatchFixtureStrategy', 'mean_revert', 5, 'FUTURES', 1e-05, 0.1, 4, 4, 1, 4, true, 119000, 0, 0, 0, 2);
INSERT INTO public.trades VALUES (3, 'hyperliquid', 'SOL/USDC:USDC', 'SOL', 'USDC', false, 0.00045, 0.843075, 'USDC', 0.00045, 1.7559, 'USDC', 187.35, 187.35, 3748.68615, 195.1, 195.1, 151.49545, 0.08082589149267672, 151.49545, 1873.5, 1873.5, 20, 20, '2025-01-06 14:40:00', '2025-01-06 17:30:04', 177.983, -0.1, 177.983, -0.1, false, 0, NULL, 'exit_signal', 'closed', 'DriftwatchFixtureStrategy', 'breakout', 5, 'FUTURES', 0.01, 0.001, 4, 4, 1, 2, false, 95.125, 0, -0.0625, 0, 2);
INSERT INTO public.trades VALUES (7, 'hyperliquid', 'SOL/USDC:USDC', 'SOL', 'USDC', true, 0.00045, 0.5664375, 'USDC', 0.00045, NULL, NULL, 201.4, 201.4, 2516.367125, NULL, 190, 0, NULL, NULL, 1258.75, 1258.75, 12.5, 12.5, '2025-01-06 20:30:00', NULL, 211.47, -0.1, 211.47, -0.1, false, 0, NULL, 'roi', '', 'DriftwatchFixtureStrategy', 'mean_revert', 5, 'FUTURES', 0.01, 0.001, 4, 4, 1, 2, true, 295.5, 0, 0, 0, 2);
INSERT INTO public.trades VALUES (8, 'hyperliquid', 'ETH/USDC:USDC', 'ETH', 'USDC', true, 0.00045, NULL, NULL, 0.00045, NULL, NULL, 3300, 3300, 0, NULL, NULL, 0, NULL, NULL, 1237.5, 0, 0, 0.75, '2025-01-06 22:30:00', NULL, 3135, -0.1, 3135, -0.1, false, 0, NULL, NULL, NULL, 'DriftwatchFixtureStrategy', 'breakout', 5, 'FUTURES', 0.0001, 0.01, 4, 4, 1, 2, false, NULL, 0, 0, NULL, 2);
INSERT INTO public.trades VALUES (4, 'hyperliquid', 'HYPE/USDC:USDC', 'HYPE', 'USDC', false, 0.00045, 0.5584049999999999, 'USDC', 0.00045, 1.58625, 'USDC', 24.818, 24.818, 3721.024785, 23.5, 23.5, 194.563535, 0.15686286405641342, 194.563535, 1240.8999999999999, 1240.8999999999999, 150, 150, '2025-01-06 14:45:00', '2025-01-06 19:30:01', 25.645, -0.1, 25.645, -0.1, false, 0, NULL, 'force_exit', 'closed', 'DriftwatchFixtureStrategy', 'mean_revert', 5, 'FUTURES', 0.01, 0.001, 4, 4, 1, 3, true, 32.5, 0, 0.125, 0, 2);
INSERT INTO public.trades VALUES (5, 'hyperliquid', 'HYPE/USDC:USDC', 'HYPE', 'USDC', true, 0.00045, 0.28500000000000003, 'USDC', 0.00045, NULL, NULL, 23.75, 23.75, 1900.855, NULL, NULL, 0, NULL, NULL, 633.3333333333334, 633.3333333333334, 80, 80, '2025-01-06 19:40:00', NULL, 22.959, -0.1, 22.959, -0.1, false, 0, NULL, NULL, NULL, 'DriftwatchFixtureStrategy', 'breakout', 5, 'FUTURES', 0.01, 0.001, 4, 4, 1, 3, false, 16.25, 0, 0, 0, 2);


--
-- Data for Name: wallet_history; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: KeyValueStore_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public."KeyValueStore_id_seq"', 1, false);


--
-- Name: orders_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.orders_id_seq', 12, true);


--
-- Name: pairlocks_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.pairlocks_id_seq', 1, false);


--
-- Name: trade_custom_data_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.trade_custom_data_id_seq', 1, false);


--
-- Name: trades_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.trades_id_seq', 8, true);


--
-- Name: wallet_history_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.wallet_history_id_seq', 1, false);


--
-- Name: KeyValueStore KeyValueStore_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."KeyValueStore"
    ADD CONSTRAINT "KeyValueStore_pkey" PRIMARY KEY (id);


--
-- Name: orders _order_pair_order_id; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT _order_pair_order_id UNIQUE (ft_pair, order_id);


--
-- Name: trade_custom_data _trade_id_cd_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.trade_custom_data
    ADD CONSTRAINT _trade_id_cd_key UNIQUE (ft_trade_id, cd_key);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: pairlocks pairlocks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pairlocks
    ADD CONSTRAINT pairlocks_pkey PRIMARY KEY (id);


--
-- Name: trade_custom_data trade_custom_data_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.trade_custom_data
    ADD CONSTRAINT trade_custom_data_pkey PRIMARY KEY (id);


--
-- Name: trades trades_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.trades
    ADD CONSTRAINT trades_pkey PRIMARY KEY (id);


--
-- Name: wallet_history unique_wallet_daily; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wallet_history
    ADD CONSTRAINT unique_wallet_daily UNIQUE ("timestamp", currency);


--
-- Name: wallet_history wallet_history_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wallet_history
    ADD CONSTRAINT wallet_history_pkey PRIMARY KEY (id);


--
-- Name: ix_KeyValueStore_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX "ix_KeyValueStore_key" ON public."KeyValueStore" USING btree (key);


--
-- Name: ix_orders_ft_is_open; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_orders_ft_is_open ON public.orders USING btree (ft_is_open);


--
-- Name: ix_orders_ft_trade_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_orders_ft_trade_id ON public.orders USING btree (ft_trade_id);


--
-- Name: ix_orders_order_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_orders_order_id ON public.orders USING btree (order_id);


--
-- Name: ix_pairlocks_active; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_pairlocks_active ON public.pairlocks USING btree (active);


--
-- Name: ix_pairlocks_lock_end_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_pairlocks_lock_end_time ON public.pairlocks USING btree (lock_end_time);


--
-- Name: ix_pairlocks_pair; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_pairlocks_pair ON public.pairlocks USING btree (pair);


--
-- Name: ix_trade_custom_data_ft_trade_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_trade_custom_data_ft_trade_id ON public.trade_custom_data USING btree (ft_trade_id);


--
-- Name: ix_trades_is_open; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_trades_is_open ON public.trades USING btree (is_open);


--
-- Name: ix_trades_pair; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_trades_pair ON public.trades USING btree (pair);


--
-- Name: ix_wallet_history_timestamp; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_wallet_history_timestamp ON public.wallet_history USING btree ("timestamp");


--
-- Name: orders orders_ft_trade_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_ft_trade_id_fkey FOREIGN KEY (ft_trade_id) REFERENCES public.trades(id);


--
-- Name: trade_custom_data trade_custom_data_ft_trade_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.trade_custom_data
    ADD CONSTRAINT trade_custom_data_ft_trade_id_fkey FOREIGN KEY (ft_trade_id) REFERENCES public.trades(id);


--
-- PostgreSQL database dump complete
--


