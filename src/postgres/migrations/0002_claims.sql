-- attributor schema, version 2: the keys a conversion claims besides its
-- id, so that a policy pays some conversions once a customer (of an event
-- kind) or once a click (of an event kind). A key once claimed is held by that conversion for
-- good; a later conversion that would claim it is a duplicate.
CREATE TABLE attributor.claims (
    program text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('customer', 'click')),
    -- The customer's id, or the click's.
    subject text COLLATE "C" NOT NULL,
    -- The event kind, by its name (a custom event by its label).
    event text COLLATE "C" NOT NULL,
    conversion text COLLATE "C" NOT NULL,
    PRIMARY KEY (program, subject, kind, event)
);
