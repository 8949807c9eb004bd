//! The statements the backend runs, and how its values become columns and
//! back.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::PgError;
use crate::code::CouponCode;
use crate::conversion::EventKind;
use crate::ids::{AffiliateId, Label};
use crate::registry::{CodeAssignment, CreditMode};
use crate::time::{raw_time, time_of};

/// The statements a pooled connection prepares when it is made.
pub(crate) const PREPARED: [&str; 4] = [GATHER_FIRST, GATHER_LAST, RECORD, CLICK];

/// Everything one attribution reads, in one statement: the ledger's
/// decision for the conversion id; when there is none, the histories of the
/// entered codes, the named click, the customer's first or last click in a
/// range, for each owner of an `if_involved` code active at the
/// conversion's time that owner's latest click in that range, and the
/// customer's latest binding made before the conversion.
///
/// The codes' rows are those of every code with the skeleton of an entered
/// one (the codes themselves and their look-alikes), of every family whose
/// prefix's skeleton starts an entered code's (their skeleton columns are
/// among `$3` too), and, for an entered code without rows of its own, of
/// every code that shares a near lookup key with it (those one edit away,
/// and a few others): readers pick what they need.
///
/// Parameters: `$1` program, `$2` conversion id (null: no ledger read),
/// `$3` the entered codes' skeletons with the skeleton columns of every
/// family that could cover them ([`family_columns`]), `$4` their near
/// lookup keys, each
/// as the code, a space and the key (the code itself and each code it
/// leaves with a character removed: read only for a code with no rows of
/// its own nor a family's), `$5` click id, `$6` customer,
/// `$7, $8` the range's start and `$9, $10` its end (seconds, nanoseconds),
/// `$11` an affiliate whose clicks are left out, `$12` the one affiliate
/// whose clicks are read (null: any), `$13, $14` the conversion's time,
/// `$15` whether to read the binding, `$16` whether to read owners' clicks,
/// `$17`, `$18`, `$19` the kinds, subjects and events of the keys whose
/// holders to read (a row may match each list and still be none of the
/// keys: readers look up the keys they asked for).
///
/// Each row is one piece: `kind` says which (`L` ledger, `A` assignment, `N`
/// named click, `F` found click, `O` owner's click, `B` binding, `U` a
/// key's holder), the other
/// columns are as [`read_gathered`](super::attribute) reads them.
macro_rules! gather {
    ($order:literal) => {
        concat!(
            "WITH led AS (
    SELECT decision::text AS decision FROM attributor.ledger
    WHERE program = $1 AND conversion = $2
),
miss AS (SELECT NOT EXISTS (SELECT 1 FROM led) AS go),
hist AS (
    SELECT skeleton, code, made, affiliate, valid_from_s, valid_from_ns, valid_until_s,
           valid_until_ns, revoked, mode, label
    FROM attributor.code_assignments
    WHERE program = $1 AND skeleton = ANY($3::text[]) AND (SELECT go FROM miss)
),
near AS (
    SELECT DISTINCT k.skeleton, k.code
    FROM unnest($4::text[]) AS q (pair)
    JOIN attributor.code_keys k ON k.program = $1 AND k.key = split_part(q.pair, ' ', 2)
    WHERE (SELECT go FROM miss)
      AND NOT EXISTS (
          SELECT 1 FROM hist h
          WHERE h.code = split_part(q.pair, ' ', 1)
             OR (left(h.skeleton, 1) = '*'
                 AND starts_with(split_part(q.pair, ' ', 1), rtrim(h.code, '*'))))
      AND NOT (k.skeleton = ANY($3::text[]))
),
near_rows AS (
    SELECT a.code, a.made, a.affiliate, a.valid_from_s, a.valid_from_ns, a.valid_until_s,
           a.valid_until_ns, a.revoked, a.mode, a.label
    FROM near n
    JOIN attributor.code_assignments a
      ON a.program = $1 AND a.skeleton = n.skeleton AND a.code = n.code
),
named AS (
    SELECT id, affiliate, clicked_at_s, clicked_at_ns FROM attributor.clicks
    WHERE program = $1 AND id = $5 AND (SELECT go FROM miss)
),
found AS (
    SELECT id, affiliate, clicked_at_s, clicked_at_ns FROM attributor.customer_clicks
    WHERE program = $1 AND customer = $6
      AND (clicked_at_s, clicked_at_ns) >= ($7, $8)
      AND (clicked_at_s, clicked_at_ns) <= ($9, $10)
      AND ($11::bigint IS NULL OR affiliate <> $11)
      AND ($12::bigint IS NULL OR affiliate = $12)
      AND (SELECT go FROM miss)
    ORDER BY clicked_at_s ",
            $order,
            ", clicked_at_ns ",
            $order,
            ", id
    LIMIT 1
),
owners AS (
    SELECT DISTINCT affiliate FROM hist
    WHERE $16 AND mode = 'if_involved'
      AND (valid_from_s, valid_from_ns) <= ($13, $14)
      AND (valid_until_s IS NULL OR (valid_until_s, valid_until_ns) > ($13, $14))
),
owner_clicks AS (
    SELECT o.affiliate AS owner, c.id, c.affiliate, c.clicked_at_s, c.clicked_at_ns
    FROM owners o LEFT JOIN LATERAL (
        SELECT id, affiliate, clicked_at_s, clicked_at_ns FROM attributor.customer_clicks
        WHERE program = $1 AND customer = $6 AND affiliate = o.affiliate
          AND (clicked_at_s, clicked_at_ns) >= ($7, $8)
          AND (clicked_at_s, clicked_at_ns) <= ($9, $10)
          AND ($11::bigint IS NULL OR affiliate <> $11)
        ORDER BY clicked_at_s DESC, clicked_at_ns DESC, id
        LIMIT 1
    ) c ON true
),
bound AS (
    SELECT conversion, affiliate, bound_at_s, bound_at_ns, expires_at_s, expires_at_ns, event
    FROM attributor.bindings
    WHERE program = $1 AND customer = $6 AND $15
      AND (bound_at_s, bound_at_ns) < ($13, $14)
      AND (SELECT go FROM miss)
    ORDER BY bound_at_s DESC, bound_at_ns DESC, conversion DESC
    LIMIT 1
),
held AS (
    SELECT kind, subject, event, conversion FROM attributor.claims
    WHERE program = $1 AND subject = ANY($18::text[]) AND kind = ANY($17::text[])
      AND event = ANY($19::text[]) AND (SELECT go FROM miss)
)
SELECT 'L' AS kind, decision AS t1, NULL::text AS t2, NULL::text AS t3, NULL::bigint AS n1,
       NULL::bigint AS n2, NULL::integer AS i1, NULL::bigint AS n3, NULL::integer AS i2,
       NULL::boolean AS flag, NULL::integer AS made, NULL::text AS t4
FROM led
UNION ALL
SELECT 'A', code, mode, label, affiliate, valid_from_s, valid_from_ns, valid_until_s,
       valid_until_ns, revoked, made, NULL
FROM hist
UNION ALL
SELECT 'A', code, mode, label, affiliate, valid_from_s, valid_from_ns, valid_until_s,
       valid_until_ns, revoked, made, NULL
FROM near_rows
UNION ALL
SELECT 'N', id, NULL, NULL, affiliate, clicked_at_s, clicked_at_ns, NULL, NULL, NULL, NULL, NULL
FROM named
UNION ALL
SELECT 'F', id, NULL, NULL, affiliate, clicked_at_s, clicked_at_ns, NULL, NULL, NULL, NULL, NULL
FROM found
UNION ALL
SELECT 'O', id, NULL, NULL, affiliate, clicked_at_s, clicked_at_ns, owner, NULL, NULL, NULL, NULL
FROM owner_clicks
UNION ALL
SELECT 'B', conversion, event, NULL, affiliate, bound_at_s, bound_at_ns, expires_at_s,
       expires_at_ns, NULL, NULL, NULL
FROM bound
UNION ALL
SELECT 'U', kind, subject, event, NULL, NULL, NULL, NULL, NULL, NULL, NULL, conversion
FROM held"
        )
    };
}

/// [`gather!`] when the first click in the range counts.
pub(crate) const GATHER_FIRST: &str = gather!("ASC");
/// [`gather!`] when the last click in the range counts.
pub(crate) const GATHER_LAST: &str = gather!("DESC");

/// Records a decision unless one is recorded for its conversion id, and in
/// the same statement (one transaction) writes its binding if it recorded
/// it. Returns whether this call recorded it and, when it did not, the
/// decision recorded before. On a conflict the row is locked and
/// read, so that a decision committed by a racing call after this
/// statement began is returned, never nothing.
///
/// Parameters: `$1` program, `$2` conversion id, `$3, $4` its time, `$5`
/// the decision's JSON, `$6` this call's random number; the binding to
/// write with it, all null for none: `$7` customer, `$8` affiliate, `$9,
/// $10` made at, `$11, $12` expiry, `$13` event; the keys to claim with
/// it, `$14` kinds, `$15` subjects, `$16` events. A key held already makes
/// the statement fail with a unique violation on `claims_pkey`, and
/// nothing is written.
pub(crate) const RECORD: &str = "WITH ins AS (
    INSERT INTO attributor.ledger
        (program, conversion, occurred_at_s, occurred_at_ns, decision, recorded_by)
    VALUES ($1, $2, $3, $4, $5::text::jsonb, $6)
    ON CONFLICT (program, conversion) DO UPDATE SET conversion = EXCLUDED.conversion
    RETURNING recorded_by = $6 AS ours,
        CASE WHEN recorded_by = $6 THEN NULL ELSE decision::text END AS earlier
),
bound AS (
    INSERT INTO attributor.bindings
        (program, customer, conversion, affiliate, bound_at_s, bound_at_ns, expires_at_s,
         expires_at_ns, event)
    SELECT $1, $7::text, $2, $8::bigint, $9::bigint, $10::integer, $11::bigint, $12::integer, $13::text
    FROM ins
    WHERE ins.ours AND $7::text IS NOT NULL
    ON CONFLICT (program, customer, conversion) DO UPDATE SET
        affiliate = EXCLUDED.affiliate, bound_at_s = EXCLUDED.bound_at_s,
        bound_at_ns = EXCLUDED.bound_at_ns, expires_at_s = EXCLUDED.expires_at_s,
        expires_at_ns = EXCLUDED.expires_at_ns, event = EXCLUDED.event
),
claimed AS (
    INSERT INTO attributor.claims (program, kind, subject, event, conversion)
    SELECT $1, u.kind, u.subject, u.event, $2
    FROM unnest($14::text[], $15::text[], $16::text[]) AS u (kind, subject, event), ins
    WHERE ins.ours
)
SELECT earlier, ours FROM ins";

/// A click by id, whole. `$1` program, `$2` id.
pub(crate) const CLICK: &str = "SELECT affiliate, clicked_at_s, clicked_at_ns, customer,
       sub1, sub2, sub3, sub4, sub5
FROM attributor.clicks WHERE program = $1 AND id = $2";

/// Writes bindings, each replacing the one of its customer and conversion:
/// `$1` program, then one array a column.
pub(crate) const BIND: &str = "INSERT INTO attributor.bindings
    (program, customer, conversion, affiliate, bound_at_s, bound_at_ns, expires_at_s,
     expires_at_ns, event)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::integer[],
                         $7::bigint[], $8::integer[], $9::text[])
ON CONFLICT (program, customer, conversion) DO UPDATE SET
    affiliate = EXCLUDED.affiliate, bound_at_s = EXCLUDED.bound_at_s,
    bound_at_ns = EXCLUDED.bound_at_ns, expires_at_s = EXCLUDED.expires_at_s,
    expires_at_ns = EXCLUDED.expires_at_ns, event = EXCLUDED.event";

/// Adds clicks, each to both tables, and returns the input rows (by
/// ordinal, from 1) that were neither added nor the same as the click
/// stored under their id: the conflicts. Of two rows with one id, the
/// first is added. `$1` program, then one array a column.
pub(crate) const INSERT_CLICKS: &str = "WITH input AS (
    SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::integer[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
        WITH ORDINALITY AS t (id, affiliate, s, ns, customer, sub1, sub2, sub3, sub4, sub5, n)
),
firsts AS (SELECT DISTINCT ON (id) * FROM input ORDER BY id, n),
ins AS (
    INSERT INTO attributor.clicks
        (program, id, affiliate, clicked_at_s, clicked_at_ns, customer, sub1, sub2, sub3, sub4, sub5)
    SELECT $1, id, affiliate, s, ns, customer, sub1, sub2, sub3, sub4, sub5 FROM firsts
    ON CONFLICT (program, id) DO NOTHING
    RETURNING id, affiliate, clicked_at_s, clicked_at_ns, customer, sub1, sub2, sub3, sub4, sub5
),
by_customer AS (
    INSERT INTO attributor.customer_clicks (program, customer, clicked_at_s, clicked_at_ns, id, affiliate)
    SELECT $1, customer, clicked_at_s, clicked_at_ns, id, affiliate FROM ins
    WHERE customer IS NOT NULL
    ON CONFLICT DO NOTHING
),
kept AS (
    SELECT id, affiliate, clicked_at_s, clicked_at_ns, customer, sub1, sub2, sub3, sub4, sub5 FROM ins
    UNION ALL
    SELECT id, affiliate, clicked_at_s, clicked_at_ns, customer, sub1, sub2, sub3, sub4, sub5
    FROM attributor.clicks WHERE program = $1 AND id IN (SELECT id FROM input)
)
SELECT i.n, (SELECT count(*) FROM ins) AS added FROM input i
WHERE NOT EXISTS (
    SELECT 1 FROM kept k
    WHERE k.id = i.id AND k.affiliate = i.affiliate AND k.clicked_at_s = i.s
      AND k.clicked_at_ns = i.ns AND k.customer IS NOT DISTINCT FROM i.customer
      AND k.sub1 IS NOT DISTINCT FROM i.sub1 AND k.sub2 IS NOT DISTINCT FROM i.sub2
      AND k.sub3 IS NOT DISTINCT FROM i.sub3 AND k.sub4 IS NOT DISTINCT FROM i.sub4
      AND k.sub5 IS NOT DISTINCT FROM i.sub5
)
UNION ALL
SELECT 0, (SELECT count(*) FROM ins)";

/// Creates the rows that lock skeletons, if missing. `$1` program, `$2`
/// the skeletons, sorted.
pub(crate) const ADD_SKELETONS: &str = "INSERT INTO attributor.code_skeletons (program, skeleton)
SELECT $1, s FROM unnest($2::text[]) AS s ORDER BY s COLLATE \"C\"
ON CONFLICT DO NOTHING";

/// Locks skeletons' rows, in order, until the transaction ends. `$1`
/// program, `$2` the skeletons.
pub(crate) const LOCK_SKELETONS: &str = "SELECT skeleton FROM attributor.code_skeletons
WHERE program = $1 AND skeleton = ANY($2::text[])
ORDER BY skeleton FOR UPDATE";

/// The assignments of every code with one of the skeletons. `$1`
/// program, `$2` the skeletons.
pub(crate) const SKELETON_ROWS: &str = "SELECT code, made, affiliate, valid_from_s, valid_from_ns,
       valid_until_s, valid_until_ns, revoked, mode, label
FROM attributor.code_assignments
WHERE program = $1 AND skeleton = ANY($2::text[])
ORDER BY code, valid_from_s, valid_from_ns, made";

/// One code's history, oldest first. `$1` program, `$2` skeleton, `$3`
/// code.
pub(crate) const HISTORY: &str = "SELECT code, made, affiliate, valid_from_s, valid_from_ns,
       valid_until_s, valid_until_ns, revoked, mode, label
FROM attributor.code_assignments
WHERE program = $1 AND skeleton = $2 AND code = $3
ORDER BY valid_from_s, valid_from_ns, made";

/// The codes an affiliate has ever held. `$1` program, `$2` affiliate.
pub(crate) const CODES_OF: &str = "SELECT DISTINCT code FROM attributor.code_assignments
WHERE program = $1 AND affiliate = $2 AND left(skeleton, 1) <> '*' ORDER BY code";

/// Adds assignments: `$1` program, then one array a column.
pub(crate) const INSERT_ASSIGNMENTS: &str = "INSERT INTO attributor.code_assignments
    (program, skeleton, code, made, affiliate, valid_from_s, valid_from_ns, valid_until_s,
     valid_until_ns, revoked, mode, label)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::integer[], $5::bigint[], $6::bigint[],
                         $7::integer[], $8::bigint[], $9::integer[], $10::boolean[], $11::text[],
                         $12::text[])";

/// Adds near lookup keys, keeping those there: `$1` program, then one array
/// a column (key, skeleton, code).
pub(crate) const ADD_KEYS: &str = "INSERT INTO attributor.code_keys (program, key, skeleton, code)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING";

/// Changes one assignment's owner, end and revocation. `$1` program, `$2`
/// skeleton, `$3` code, `$4` made, `$5` affiliate, `$6, $7` end, `$8`
/// revoked.
pub(crate) const UPDATE_ASSIGNMENT: &str = "UPDATE attributor.code_assignments
SET affiliate = $5, valid_until_s = $6, valid_until_ns = $7, revoked = $8
WHERE program = $1 AND skeleton = $2 AND code = $3 AND made = $4";

/// The skeleton and code columns of a code's rows, or of a family's: a
/// family's code column holds its prefix and a `*` (`MKBHD*`), and its
/// skeleton column a `*` and the prefix's skeleton (`*MKBHD`), so that the
/// families sort together, apart from every code, and a code's skeleton
/// never names one.
pub(crate) fn key_columns(code: &CouponCode, family: bool) -> (String, String) {
    let skeleton = code.skeleton();
    if family {
        (format!("*{skeleton}"), format!("{code}*"))
    } else {
        (skeleton.as_str().to_owned(), code.as_str().to_owned())
    }
}

/// The skeleton columns of the families that would cover `code`: one for
/// each of its prefixes a code could be, the whole code included.
pub(crate) fn family_columns(code: &CouponCode) -> impl Iterator<Item = String> + '_ {
    let skeleton = code.skeleton();
    let text = skeleton.as_str().to_owned();
    (crate::code::MIN_CODE_LEN..=text.len()).filter_map(move |n| text.get(..n).map(|p| format!("*{p}")))
}

/// The assignments of every family. `$1` program.
pub(crate) const FAMILY_ROWS: &str = "SELECT code, made, affiliate, valid_from_s, valid_from_ns,
       valid_until_s, valid_until_ns, revoked, mode, label
FROM attributor.code_assignments
WHERE program = $1 AND skeleton >= '*' AND skeleton < '+'
ORDER BY code, valid_from_s, valid_from_ns, made";

/// The assignments of every code whose skeleton starts with one given. `$1`
/// program, `$2` the skeletons.
pub(crate) const CODES_UNDER: &str = "SELECT a.code, a.made, a.affiliate, a.valid_from_s, a.valid_from_ns,
       a.valid_until_s, a.valid_until_ns, a.revoked, a.mode, a.label
FROM unnest($2::text[]) AS p (skeleton)
JOIN attributor.code_assignments a
  ON a.program = $1 AND a.skeleton >= p.skeleton AND a.skeleton < p.skeleton || chr(127)
ORDER BY a.code, a.valid_from_s, a.valid_from_ns, a.made";

/// Locks the row that family writes take alone and code writes share, so
/// that a family and a code it would cover are never written at once. `$1`
/// program; `FOR SHARE` or `FOR UPDATE` follows.
pub(crate) const FAMILY_GATE: &str = "SELECT skeleton FROM attributor.code_skeletons
WHERE program = $1 AND skeleton = '*'";

/// An instant as the schema keeps it: seconds and nanoseconds.
pub(crate) fn pair(t: DateTime<Utc>) -> (i64, i32) {
    let (s, ns) = raw_time(t);
    // A second's nanoseconds are below two billion, within an `i32`.
    (s, i32::try_from(ns).unwrap_or(i32::MAX))
}

/// [`pair`] of an optional instant, as two nullable columns.
pub(crate) fn optional_pair(t: Option<DateTime<Utc>>) -> (Option<i64>, Option<i32>) {
    match t.map(pair) {
        Some((s, ns)) => (Some(s), Some(ns)),
        None => (None, None),
    }
}

/// The instant of a seconds and nanoseconds pair, if it is one.
pub(crate) fn instant(s: i64, ns: i32) -> Option<DateTime<Utc>> {
    time_of((s, u32::try_from(ns).ok()?))
}

/// An affiliate id as a bigint, by its bits.
pub(crate) fn affiliate_column(a: AffiliateId) -> i64 {
    i64::from_ne_bytes(a.get().to_ne_bytes())
}

/// The affiliate id of a bigint column.
pub(crate) fn affiliate_of(n: i64) -> AffiliateId {
    AffiliateId::new(u64::from_ne_bytes(n.to_ne_bytes()))
}

/// A credit mode as the schema names it.
pub(crate) fn mode_column(mode: CreditMode) -> &'static str {
    match mode {
        CreditMode::Standard => "standard",
        CreditMode::Always => "always",
        CreditMode::IfInvolved => "if_involved",
    }
}

fn mode_of(s: &str) -> Option<CreditMode> {
    match s {
        "standard" => Some(CreditMode::Standard),
        "always" => Some(CreditMode::Always),
        "if_involved" => Some(CreditMode::IfInvolved),
        _ => None,
    }
}

/// An event kind of a text column.
pub(crate) fn event_of(s: &str) -> Option<EventKind> {
    s.parse().ok()
}

/// Reads a row's column, naming the table and key when it cannot.
pub(crate) fn get<'r, T: tokio_postgres::types::FromSql<'r>>(
    row: &'r Row,
    column: usize,
    table: &'static str,
    key: &dyn Fn() -> String,
) -> Result<T, PgError> {
    row.try_get(column).map_err(|e| PgError::Corrupt {
        table,
        key: key(),
        what: format!("column {column}: {e}"),
    })
}

/// A corrupt row's error.
pub(crate) fn corrupt(table: &'static str, key: String, what: &str) -> PgError {
    PgError::Corrupt {
        table,
        key,
        what: what.to_owned(),
    }
}

/// Where an assignment's columns are in a row.
#[derive(Clone, Copy)]
pub(crate) struct AssignmentColumns {
    code: usize,
    made: usize,
    affiliate: usize,
    from_s: usize,
    from_ns: usize,
    until_s: usize,
    until_ns: usize,
    revoked: usize,
    mode: usize,
    label: usize,
}

/// The columns of [`SKELETON_ROWS`] and [`HISTORY`].
pub(crate) const ASSIGNMENT_ROW: AssignmentColumns = AssignmentColumns {
    code: 0,
    made: 1,
    affiliate: 2,
    from_s: 3,
    from_ns: 4,
    until_s: 5,
    until_ns: 6,
    revoked: 7,
    mode: 8,
    label: 9,
};

/// The columns of a [`GATHER_FIRST`] row of kind `A`.
pub(crate) const GATHERED_ASSIGNMENT: AssignmentColumns = AssignmentColumns {
    code: 1,
    mode: 2,
    label: 3,
    affiliate: 4,
    from_s: 5,
    from_ns: 6,
    until_s: 7,
    until_ns: 8,
    revoked: 9,
    made: 10,
};

/// An assignment, and the order it was made in, from a row.
pub(crate) fn assignment_of(row: &Row, c: AssignmentColumns) -> Result<(CodeAssignment, i32), PgError> {
    const TABLE: &str = "attributor.code_assignments";
    let text: &str = get(row, c.code, TABLE, &String::new)?;
    let key = || text.to_owned();
    // A family's row holds its prefix and a `*`.
    let (canonical, family) = match text.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (text, false),
    };
    let code = CouponCode::parse(canonical)
        .ok()
        .filter(|c| c.as_str() == canonical)
        .ok_or_else(|| corrupt(TABLE, key(), "the code is not a canonical coupon code"))?;
    let made: i32 = get(row, c.made, TABLE, &key)?;
    let affiliate = affiliate_of(get(row, c.affiliate, TABLE, &key)?);
    let from = instant(
        get(row, c.from_s, TABLE, &key)?,
        get(row, c.from_ns, TABLE, &key)?,
    )
    .ok_or_else(|| corrupt(TABLE, key(), "valid_from is not an instant"))?;
    let until = optional_instant(
        get(row, c.until_s, TABLE, &key)?,
        get(row, c.until_ns, TABLE, &key)?,
    )
    .map_err(|what| corrupt(TABLE, key(), &format!("valid_until {what}")))?;
    let revoked: bool = get(row, c.revoked, TABLE, &key)?;
    let mode = mode_of(get(row, c.mode, TABLE, &key)?)
        .ok_or_else(|| corrupt(TABLE, key(), "mode is not a credit mode"))?;
    let label: Option<&str> = get(row, c.label, TABLE, &key)?;
    let label = label
        .map(Label::new)
        .transpose()
        .map_err(|e| corrupt(TABLE, key(), &format!("label: {e}")))?;
    let mut a = CodeAssignment::new(code, affiliate, from).with_mode(mode);
    a.valid_until = until;
    a.revoked = revoked;
    a.label = label;
    a.family = family;
    Ok((a, made))
}

/// The instant of two nullable columns, both null for none.
pub(crate) fn optional_instant(
    s: Option<i64>,
    ns: Option<i32>,
) -> Result<Option<DateTime<Utc>>, &'static str> {
    match (s, ns) {
        (Some(s), Some(ns)) => instant(s, ns).map(Some).ok_or("is not an instant"),
        (None, None) => Ok(None),
        _ => Err("has one of its two columns null"),
    }
}
