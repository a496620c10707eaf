//! Text kept or shown from sources that may run long: a trap's message, a load
//! failure's reason, a fleet's reason from etcd.

/// Cuts `text` to at most `max_bytes` on a character boundary, marking the cut with
/// `…`; shorter text is left alone.
pub fn cut(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes {
        text.truncate(text.floor_char_boundary(max_bytes));
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_character_boundary() {
        let mut short = "abc".to_string();
        cut(&mut short, 3);
        assert_eq!(short, "abc");
        let mut long = "aéé".to_string(); // 5 bytes; byte 2 is inside the first é
        cut(&mut long, 2);
        assert_eq!(long, "a…");
        cut(&mut long, 100);
        assert_eq!(long, "a…");
    }
}
