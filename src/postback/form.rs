//! `application/x-www-form-urlencoded` pairs, decoded strictly.
//!
//! The `url` crate's `form_urlencoded::parse` and `Url::query_pairs` decode
//! lossily: a percent-encoded byte that is not UTF-8 becomes U+FFFD, so
//! `ORD-%FF` and `ORD-%FE` would read as one id. Here a value that is not
//! UTF-8 once decoded is reported as such, and the caller refuses it.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// One `name=value` pair. `value` is `None` when its decoded bytes are not
/// UTF-8; a pair whose name is not UTF-8 is left out, as no field has
/// such a name.
pub(crate) struct Pair<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) value: Option<Cow<'a, str>>,
}

/// The pairs of `input`, split on `&` and at the first `=` of each
/// (a piece without `=` has an empty value; empty pieces are skipped), with
/// `+` read as a space and then percent-decoded, as the URL standard's
/// form parser does.
pub(crate) fn pairs(input: &[u8]) -> impl Iterator<Item = Pair<'_>> {
    input
        .split(|b| *b == b'&')
        .filter(|piece| !piece.is_empty())
        .filter_map(|piece| {
            let mut halves = piece.splitn(2, |b| *b == b'=');
            let name = decode(halves.next().unwrap_or_default())?;
            let value = decode(halves.next().unwrap_or_default());
            Some(Pair { name, value })
        })
}

/// `bytes` with `+` as a space, percent-decoded, if that is UTF-8.
fn decode(bytes: &[u8]) -> Option<Cow<'_, str>> {
    if bytes.contains(&b'+') {
        let spaced: Vec<u8> = bytes.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        String::from_utf8(percent_decode(&spaced).collect())
            .ok()
            .map(Cow::Owned)
    } else {
        percent_decode(bytes).decode_utf8().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str) -> Vec<(String, Option<String>)> {
        pairs(input.as_bytes())
            .map(|p| (p.name.into_owned(), p.value.map(Cow::into_owned)))
            .collect()
    }

    fn pair(name: &str, value: &str) -> (String, Option<String>) {
        (name.to_owned(), Some(value.to_owned()))
    }

    #[test]
    fn decodes_as_the_form_parser_does_for_utf8() {
        let input = "a=1&&b=x+y%2By&c&d=%C3%A9%20&=e&f==g";
        let lossy: Vec<(String, Option<String>)> = url::form_urlencoded::parse(input.as_bytes())
            .map(|(n, v)| (n.into_owned(), Some(v.into_owned())))
            .collect();
        assert_eq!(read(input), lossy);
        assert_eq!(read(input)[1], pair("b", "x y+y"));
        assert_eq!(read(input)[3], pair("d", "é "));
        assert_eq!(read(input)[5], pair("f", "=g"));
    }

    #[test]
    fn a_value_that_is_not_utf8_is_reported_not_replaced() {
        assert_eq!(
            read("id=ORD-%FF&next=1&plus=a+%FE"),
            [
                ("id".to_owned(), None),
                pair("next", "1"),
                ("plus".to_owned(), None)
            ]
        );
        // A real U+FFFD, sent as its UTF-8 bytes, is a valid value.
        assert_eq!(read("id=%EF%BF%BD"), [pair("id", "\u{FFFD}")]);
    }

    #[test]
    fn a_name_that_is_not_utf8_is_left_out() {
        assert_eq!(read("%FF=1&a=2"), [pair("a", "2")]);
    }
}
