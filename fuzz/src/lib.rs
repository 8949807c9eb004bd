//! What the fuzz targets share: cutting one input into fields, and slow
//! reference answers to check the crate's fast ones against.

/// Cuts `data` into `N` fields at its first `N - 1` newlines. The last
/// field keeps the rest, newlines included; fields past the end are empty.
/// Seeds stay readable: one field a line.
pub fn fields<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out = [&[][..]; N];
    let mut rest = data;
    for (i, field) in out.iter_mut().enumerate() {
        if i + 1 == N {
            *field = rest;
            break;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(at) => {
                *field = &rest[..at];
                rest = &rest[at + 1..];
            }
            None => {
                *field = rest;
                rest = &[];
            }
        }
    }
    out
}

/// `bytes` as text, with each invalid sequence replaced: for the parsers
/// that take `&str`, whose callers hold text already.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `a` becomes `b` by exactly one edit: one byte added, removed or
/// changed, or two neighbouring bytes swapped. The slow way, by trying
/// every edit of `a`.
pub fn one_edit_apart(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return false;
    }
    let n = a.len();
    let changed = a.len() == b.len() && a.iter().zip(b).filter(|(x, y)| x != y).count() == 1;
    let removed = (0..n).any(|i| a.len() == b.len() + 1 && [&a[..i], &a[i + 1..]].concat() == b);
    let added = (0..b.len()).any(|i| b.len() == a.len() + 1 && [&b[..i], &b[i + 1..]].concat() == a);
    let swapped = (0..n.saturating_sub(1)).any(|i| {
        let mut s = a.to_vec();
        s.swap(i, i + 1);
        s == b
    });
    changed || removed || added || swapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cut_at_the_first_newlines_and_keep_the_rest() {
        assert_eq!(fields::<3>(b"a\nb\nc\nd"), [&b"a"[..], b"b", b"c\nd"]);
        assert_eq!(fields::<3>(b"a"), [&b"a"[..], b"", b""]);
    }

    #[test]
    fn one_edit_apart_knows_each_kind_of_edit() {
        assert!(one_edit_apart(b"BOSS20", b"BOSS21"));
        assert!(one_edit_apart(b"BOSS20", b"BOS20"));
        assert!(one_edit_apart(b"BOSS20", b"BOSSS20"));
        assert!(one_edit_apart(b"BOSS20", b"BOSS02"));
        assert!(!one_edit_apart(b"BOSS20", b"BOSS20"));
        assert!(!one_edit_apart(b"BOSS20", b"BSOS02"));
    }
}
