--
-- PostgreSQL database dump
--

\restrict knfL2UAeTuaoW9fcdLOgM1yh3fApDdKBgi8x5teeyWRNvEf6z96VlCKByPj7aAX

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

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
-- Name: detect; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA detect;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: alerts; Type: TABLE; Schema: detect; Owner: -
--

CREATE TABLE detect.alerts (
    key text NOT NULL,
    detector text NOT NULL,
    village text NOT NULL,
    subject text NOT NULL,
    kind text NOT NULL,
    severity text NOT NULL,
    since_ms bigint NOT NULL,
    updated_ms bigint NOT NULL,
    message text NOT NULL,
    details text NOT NULL,
    historical integer NOT NULL,
    needs_close integer NOT NULL
);


--
-- Name: dead_letters; Type: TABLE; Schema: detect; Owner: -
--

CREATE TABLE detect.dead_letters (
    id bigint NOT NULL,
    received_ns bigint NOT NULL,
    topic text NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    payload bytea NOT NULL
);


--
-- Name: dead_letters_id_seq; Type: SEQUENCE; Schema: detect; Owner: -
--

ALTER TABLE detect.dead_letters ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME detect.dead_letters_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: schema_version; Type: TABLE; Schema: detect; Owner: -
--

CREATE TABLE detect.schema_version (
    one integer NOT NULL,
    version integer NOT NULL,
    CONSTRAINT schema_version_one_check CHECK ((one = 1))
);


--
-- Name: state; Type: TABLE; Schema: detect; Owner: -
--

CREATE TABLE detect.state (
    owner text NOT NULL,
    state text NOT NULL
);


--
-- Name: transitions; Type: TABLE; Schema: detect; Owner: -
--

CREATE TABLE detect.transitions (
    id text NOT NULL,
    key text NOT NULL,
    detector text NOT NULL,
    village text NOT NULL,
    subject text NOT NULL,
    kind text NOT NULL,
    action text NOT NULL,
    severity text NOT NULL,
    at_ms bigint NOT NULL,
    message text NOT NULL,
    details text NOT NULL,
    historical integer NOT NULL,
    needs_close integer NOT NULL,
    recorded_ns bigint NOT NULL,
    message_key text DEFAULT ''::text NOT NULL,
    params text DEFAULT '{}'::text NOT NULL
);


--
-- Data for Name: alerts; Type: TABLE DATA; Schema: detect; Owner: -
--

COPY detect.alerts (key, detector, village, subject, kind, severity, since_ms, updated_ms, message, details, historical, needs_close) FROM stdin;
lock/v/lock-1/forced_open	lock	v	lock-1	forced_open	red	1795000000500	1795000000500	Door forced	{}	0	1
\.


--
-- Data for Name: dead_letters; Type: TABLE DATA; Schema: detect; Owner: -
--

COPY detect.dead_letters (id, received_ns, topic, reason, detail, payload) FROM stdin;
1	1795000000000000002	vw/v/telemetry/x	unknown_device	no device x	\\x007b6e6f74206a736f6e
\.


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: detect; Owner: -
--

COPY detect.schema_version (one, version) FROM stdin;
1	2
\.


--
-- Data for Name: state; Type: TABLE DATA; Schema: detect; Owner: -
--

COPY detect.state (owner, state) FROM stdin;
water_level/v/wl-1	{"level": 205.5, "band": "blue"}
\.


--
-- Data for Name: transitions; Type: TABLE DATA; Schema: detect; Owner: -
--

COPY detect.transitions (id, key, detector, village, subject, kind, action, severity, at_ms, message, details, historical, needs_close, recorded_ns, message_key, params) FROM stdin;
water_level/v/wl-1/level#fire@1795000000000	water_level/v/wl-1/level	water_level	v	wl-1	level	fire	blue	1795000000000	Bridge: water at 205 cm	{"cm": 205}	0	0	1795000000000000001	level.near	{"cm": "205"}
lock/v/lock-1/forced_open#fire@1795000000500	lock/v/lock-1/forced_open	lock	v	lock-1	forced_open	fire	red	1795000000500	Door forced	{}	0	1	1795000000500000001		{}
water_level/v/wl-1/level#update@1795000060000	water_level/v/wl-1/level	water_level	v	wl-1	level	update	yellow	1795000060000	Bridge: water at 231 cm	{}	0	0	1795000060000000001		{}
\.


--
-- Name: dead_letters_id_seq; Type: SEQUENCE SET; Schema: detect; Owner: -
--

SELECT pg_catalog.setval('detect.dead_letters_id_seq', 1, true);


--
-- Name: alerts alerts_pkey; Type: CONSTRAINT; Schema: detect; Owner: -
--

ALTER TABLE ONLY detect.alerts
    ADD CONSTRAINT alerts_pkey PRIMARY KEY (key);


--
-- Name: dead_letters dead_letters_pkey; Type: CONSTRAINT; Schema: detect; Owner: -
--

ALTER TABLE ONLY detect.dead_letters
    ADD CONSTRAINT dead_letters_pkey PRIMARY KEY (id);


--
-- Name: schema_version schema_version_pkey; Type: CONSTRAINT; Schema: detect; Owner: -
--

ALTER TABLE ONLY detect.schema_version
    ADD CONSTRAINT schema_version_pkey PRIMARY KEY (one);


--
-- Name: state state_pkey; Type: CONSTRAINT; Schema: detect; Owner: -
--

ALTER TABLE ONLY detect.state
    ADD CONSTRAINT state_pkey PRIMARY KEY (owner);


--
-- Name: transitions transitions_id_key; Type: CONSTRAINT; Schema: detect; Owner: -
--

ALTER TABLE ONLY detect.transitions
    ADD CONSTRAINT transitions_id_key UNIQUE (id);


--
-- Name: transitions_key; Type: INDEX; Schema: detect; Owner: -
--

CREATE INDEX transitions_key ON detect.transitions USING btree (key);


--
-- PostgreSQL database dump complete
--

\unrestrict knfL2UAeTuaoW9fcdLOgM1yh3fApDdKBgi8x5teeyWRNvEf6z96VlCKByPj7aAX

