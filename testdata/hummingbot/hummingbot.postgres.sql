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

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: Metadata; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."Metadata" (
    key text NOT NULL,
    value text NOT NULL
);


--
-- Name: Position; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."Position" (
    id text NOT NULL,
    controller_id text NOT NULL,
    connector_name text NOT NULL,
    side text NOT NULL,
    trading_pair text NOT NULL,
    "timestamp" bigint NOT NULL,
    volume_traded_quote bigint NOT NULL,
    amount bigint NOT NULL,
    breakeven_price bigint NOT NULL,
    unrealized_pnl_quote bigint NOT NULL,
    realized_pnl_quote bigint NOT NULL,
    cum_fees_quote bigint NOT NULL
);


--
-- Data for Name: Metadata; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public."Metadata" VALUES ('local_db_version', '20230516');


--
-- Data for Name: Position; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public."Position" VALUES ('28143096-44f0-47fb-b66c-698ce023519d', 'trend_btc_eth', 'binance_perpetual', 'SELL', 'ETH-USDT', 1768478400000, 3600000000, 1200000, 3000000000, 60000000, 0, 1440000);
INSERT INTO public."Position" VALUES ('ab4f6ffa-12e9-4695-a64c-79f289cc76ad', 'trend_btc_eth', 'binance_perpetual', 'BUY', 'BTC-USDT', 1768564800000, 4240000000, 70000, 60571428571, 170000000, 0, 1700000);
INSERT INTO public."Position" VALUES ('5a92b06f-17fd-466c-9a2c-3f031104c98d', 'trend_btc_eth', 'binance_perpetual', 'BUY', 'ETH-USDT', 1768564800000, 7260000000, 0, 0, 0, -60000000, 2900000);
INSERT INTO public."Position" VALUES ('461ef7c3-9edf-4e76-b227-20cfee82f2cf', 'grid_sol', 'binance_perpetual', 'BUY', 'SOL-USDT', 1768564800000, 3051000000, 0, 0, 0, 0, 1220000);
INSERT INTO public."Position" VALUES ('1079e9c1-605d-47ba-b5fb-1d57a44133e6', 'mm_sol', 'bybit_perpetual', 'SELL', 'SOL-USDT', 1768564800000, 3725000000, 25000000, 149000000, -72500000, 0, 2050000);


--
-- Name: Metadata Metadata_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."Metadata"
    ADD CONSTRAINT "Metadata_pkey" PRIMARY KEY (key);


--
-- Name: Position Position_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."Position"
    ADD CONSTRAINT "Position_pkey" PRIMARY KEY (id);


--
-- Name: p_connector_name_trading_pair_timestamp_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX p_connector_name_trading_pair_timestamp_index ON public."Position" USING btree (connector_name, trading_pair, "timestamp");


--
-- Name: p_controller_id_timestamp_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX p_controller_id_timestamp_index ON public."Position" USING btree (controller_id, "timestamp");


--
-- PostgreSQL database dump complete
--


