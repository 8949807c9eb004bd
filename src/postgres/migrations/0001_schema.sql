-- attributor schema, version 1: the code registry, clicks, bindings and the
-- ledger, for many programs in one database.
--
-- Conventions:
-- * Every table's key starts with the program, then the table's
--   distribution column (see the README, "Scaling out"). Keys come from the
--   data or from the application: no sequences, no triggers.
-- * Text keys use the "C" collation, so that ids compare byte by byte as
--   Rust's `Ord` does (`B-7` < `a-9` < `a1`).
-- * An instant is two columns: whole seconds since 1970 (`_s`, bigint) and
--   nanoseconds within the second (`_ns`, 0 to 1999999999: a leap second's
--   run past a billion). Every instant chrono holds is kept exactly, and
--   (`_s`, `_ns`) order is time order.
-- * Affiliate ids are unsigned 64-bit numbers, kept in a bigint
--   by their bits: those above 9223372036854775807 read as negative in SQL.

-- One row per skeleton of the codes in a program: every write of a code
-- locks its skeleton's row first, so that the writes of confusable codes
-- (and of one code) take turns, and the checks before a write see every
-- assignment that could clash with it.
CREATE TABLE attributor.code_skeletons (
    program text COLLATE "C" NOT NULL,
    skeleton text COLLATE "C" NOT NULL,
    PRIMARY KEY (program, skeleton)
);

-- Each code's assignment history: who owned it when.
CREATE TABLE attributor.code_assignments (
    program text COLLATE "C" NOT NULL,
    skeleton text COLLATE "C" NOT NULL,
    code text COLLATE "C" NOT NULL,
    -- The order in which the code's assignments were made: 1, 2, ...
    made integer NOT NULL CHECK (made > 0),
    affiliate bigint NOT NULL,
    valid_from_s bigint NOT NULL,
    valid_from_ns integer NOT NULL CHECK (valid_from_ns BETWEEN 0 AND 1999999999),
    valid_until_s bigint,
    valid_until_ns integer CHECK (valid_until_ns BETWEEN 0 AND 1999999999),
    revoked boolean NOT NULL,
    mode text NOT NULL CHECK (mode IN ('standard', 'always', 'if_involved')),
    label text,
    PRIMARY KEY (program, skeleton, code, made),
    FOREIGN KEY (program, skeleton) REFERENCES attributor.code_skeletons (program, skeleton),
    CHECK ((valid_until_s IS NULL) = (valid_until_ns IS NULL)),
    CHECK (valid_until_s IS NULL OR (valid_until_s, valid_until_ns) >= (valid_from_s, valid_from_ns)),
    CHECK (valid_until_s IS NOT NULL OR NOT revoked)
);

-- The codes an affiliate has held (`PgStore::codes_of`).
CREATE INDEX code_assignments_by_affiliate
    ON attributor.code_assignments (program, affiliate, code);

-- Clicks by id.
CREATE TABLE attributor.clicks (
    program text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    affiliate bigint NOT NULL,
    clicked_at_s bigint NOT NULL,
    clicked_at_ns integer NOT NULL CHECK (clicked_at_ns BETWEEN 0 AND 1999999999),
    customer text COLLATE "C",
    sub1 text,
    sub2 text,
    sub3 text,
    sub4 text,
    sub5 text,
    PRIMARY KEY (program, id)
);

-- The clicks that have a customer again, by customer and time: what the
-- first or last click of a customer is read from.
CREATE TABLE attributor.customer_clicks (
    program text COLLATE "C" NOT NULL,
    customer text COLLATE "C" NOT NULL,
    clicked_at_s bigint NOT NULL,
    clicked_at_ns integer NOT NULL CHECK (clicked_at_ns BETWEEN 0 AND 1999999999),
    id text COLLATE "C" NOT NULL,
    affiliate bigint NOT NULL,
    PRIMARY KEY (program, customer, clicked_at_s, clicked_at_ns, id)
);

-- Customers bound to affiliates, each binding keyed by the conversion
-- that made it.
CREATE TABLE attributor.bindings (
    program text COLLATE "C" NOT NULL,
    customer text COLLATE "C" NOT NULL,
    conversion text COLLATE "C" NOT NULL,
    affiliate bigint NOT NULL,
    bound_at_s bigint NOT NULL,
    bound_at_ns integer NOT NULL CHECK (bound_at_ns BETWEEN 0 AND 1999999999),
    expires_at_s bigint,
    expires_at_ns integer CHECK (expires_at_ns BETWEEN 0 AND 1999999999),
    event text NOT NULL,
    PRIMARY KEY (program, customer, conversion),
    CHECK ((expires_at_s IS NULL) = (expires_at_ns IS NULL))
);

CREATE INDEX bindings_by_time
    ON attributor.bindings (program, customer, bound_at_s, bound_at_ns, conversion);

-- The decision recorded for each conversion: one row per conversion id.
CREATE TABLE attributor.ledger (
    program text COLLATE "C" NOT NULL,
    conversion text COLLATE "C" NOT NULL,
    occurred_at_s bigint NOT NULL,
    occurred_at_ns integer NOT NULL CHECK (occurred_at_ns BETWEEN 0 AND 1999999999),
    -- The decision's JSON, as `Decision` serialises it.
    decision jsonb NOT NULL,
    -- A random number the recording call chose, so that it can tell its
    -- own insert from a decision recorded before.
    recorded_by bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program, conversion)
);
