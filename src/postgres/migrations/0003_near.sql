-- attributor schema, version 3: the keys of near lookups. For every code,
-- one row keyed by the code itself and one by each code it leaves with a
-- character removed: two codes one edit apart share a key, so the codes
-- near a typed one are found by its own keys through the primary key's
-- index, without reading every code.
CREATE TABLE attributor.code_keys (
    program text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    skeleton text COLLATE "C" NOT NULL,
    code text COLLATE "C" NOT NULL,
    PRIMARY KEY (program, key, skeleton, code)
);

INSERT INTO attributor.code_keys (program, key, skeleton, code)
SELECT DISTINCT c.program, k.key, c.skeleton, c.code
FROM (SELECT DISTINCT program, skeleton, code FROM attributor.code_assignments) AS c
CROSS JOIN LATERAL (
    SELECT c.code AS key
    UNION
    SELECT left(c.code, i - 1) || substr(c.code, i + 1)
    FROM generate_series(1, length(c.code)) AS i
) AS k;
