//! Text measuring for the two standard 14 fonts the documents use: WinAnsi encoding of
//! Unicode text, the advance widths of Helvetica and Helvetica-Bold (from the public AFM
//! metrics of the standard 14 fonts) and greedy word wrapping within a column.

/// One of the two fonts of a document; both are standard 14 fonts, so no font file is embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
}

impl Font {
    fn widths(self) -> &'static [u16; 224] {
        match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        }
    }

    /// The PostScript name of the standard 14 font.
    pub(crate) fn base_font(self) -> &'static [u8] {
        match self {
            Font::Regular => b"Helvetica",
            Font::Bold => b"Helvetica-Bold",
        }
    }

    /// The name of the font in the page resources.
    pub(crate) fn resource_name(self) -> &'static [u8] {
        match self {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
        }
    }
}

/// Advance widths of Helvetica in 1/1000 em for the WinAnsi codes 32..=255 (index = code - 32).
/// 0 marks the codes WinAnsiEncoding leaves undefined (127, 129, 141, 143, 144, 157); the
/// encoder never produces them.
#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    // 32..=47: space ! " # $ % & ' ( ) * + , - . /
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    // 48..=63: 0-9 : ; < = > ?
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    // 64..=79: @ A-O
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    // 80..=95: P-Z [ \ ] ^ _
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    // 96..=111: ` a-o
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    // 112..=127: p-z { | } ~ (127 undefined)
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0,
    // 128..=143: € _ ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ _ Ž _
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    // 144..=159: _ ‘ ’ “ ” • – — ˜ ™ š › œ _ ž Ÿ
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667,
    // 160..=175: nbsp ¡ ¢ £ ¤ ¥ ¦ § ¨ © ª « ¬ shy ® ¯
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    // 176..=191: ° ± ² ³ ´ µ ¶ · ¸ ¹ º » ¼ ½ ¾ ¿
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    // 192..=207: À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    // 208..=223: Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    // 224..=239: à á â ã ä å æ ç è é ê ë ì í î ï
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    // 240..=255: ð ñ ò ó ô õ ö ÷ ø ù ú û ü ý þ ÿ
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

/// Advance widths of Helvetica-Bold, laid out like [`HELVETICA`].
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    // 32..=47: space ! " # $ % & ' ( ) * + , - . /
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    // 48..=63: 0-9 : ; < = > ?
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    // 64..=79: @ A-O
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    // 80..=95: P-Z [ \ ] ^ _
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    // 96..=111: ` a-o
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    // 112..=127: p-z { | } ~ (127 undefined)
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0,
    // 128..=143: € _ ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ _ Ž _
    556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    // 144..=159: _ ‘ ’ “ ” • – — ˜ ™ š › œ _ ž Ÿ
    0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667,
    // 160..=175: nbsp ¡ ¢ £ ¤ ¥ ¦ § ¨ © ª « ¬ shy ® ¯
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    // 176..=191: ° ± ² ³ ´ µ ¶ · ¸ ¹ º » ¼ ½ ¾ ¿
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    // 192..=207: À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    // 208..=223: Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    // 224..=239: à á â ã ä å æ ç è é ê ë ì í î ï
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
    // 240..=255: ð ñ ò ó ô õ ö ÷ ø ù ú û ü ý þ ÿ
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

/// The characters of WinAnsi codes 0x80..=0x9F; `None` where the code is undefined.
const WIN_ANSI_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// The WinAnsi code of one character: `None` for a character that prints nothing (carriage
/// return, zero-width characters, soft hyphen), `b'?'` for one WinAnsi cannot show.
///
/// A few characters outside WinAnsi that have an exact visual stand-in are mapped to it rather
/// than to `?`: tabs and the typographic spaces become a space, figure and narrow no-break
/// spaces a no-break space, the Unicode hyphens and minus sign a hyphen-minus.
fn encode_char(c: char) -> Option<u8> {
    let code = match c {
        ' '..='~' => c as u8,
        '\u{A0}'..='\u{AC}' | '\u{AE}'..='\u{FF}' => c as u8,
        '\r' | '\u{AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => return None,
        '\t' | '\u{2000}'..='\u{2006}' | '\u{2008}'..='\u{200A}' => b' ',
        '\u{2007}' | '\u{202F}' => 0xA0,
        '\u{2010}' | '\u{2011}' | '\u{2212}' => b'-',
        _ => match WIN_ANSI_HIGH.iter().position(|&h| h == Some(c)) {
            // position < 32, so the sum stays within 0x80..=0x9F.
            Some(index) => 0x80 + index as u8,
            None => b'?',
        },
    };
    Some(code)
}

/// Encodes text in WinAnsiEncoding, the encoding of the document's fonts. A character that
/// WinAnsi cannot show becomes `?`; line breaks are not expected here (a newline becomes `?`).
pub fn encode_win_ansi(text: &str) -> Vec<u8> {
    text.chars().filter_map(encode_char).collect()
}

/// Decodes WinAnsi bytes (as produced by [`encode_win_ansi`]) back to text.
pub fn decode_win_ansi(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => WIN_ANSI_HIGH[usize::from(b - 0x80)].unwrap_or('?'),
            _ => char::from(b),
        })
        .collect()
}

/// Width of WinAnsi bytes in 1/1000 em.
fn units(font: Font, bytes: &[u8]) -> u32 {
    let widths = font.widths();
    bytes
        .iter()
        .map(|&b| match b {
            32..=255 => u32::from(widths[usize::from(b - 32)]),
            _ => 0,
        })
        .sum()
}

/// Width in points of WinAnsi-encoded bytes set in `font` at `size` points.
pub(crate) fn bytes_width(font: Font, size: f32, bytes: &[u8]) -> f32 {
    units(font, bytes) as f32 * size / 1000.0
}

/// Width in points of `text` set in `font` at `size` points, as it prints (characters outside
/// WinAnsi measured as the `?` that replaces them).
pub fn text_width(text: &str, font: Font, size: f32) -> f32 {
    bytes_width(font, size, &encode_win_ansi(text))
}

/// Wraps `text` into lines no wider than `max_width` points in `font` at `size`, breaking at
/// spaces; a word wider than a whole line is broken between characters. A newline in `text`
/// forces a line break. The lines are returned as they print (see [`encode_win_ansi`]).
/// Empty or blank text gives no lines.
pub fn wrap_text(text: &str, font: Font, size: f32, max_width: f32) -> Vec<String> {
    wrap(text, font, size, max_width)
        .iter()
        .map(|line| decode_win_ansi(line))
        .collect()
}

/// [`wrap_text`] returning WinAnsi lines, as the renderer draws them.
pub(crate) fn wrap(text: &str, font: Font, size: f32, max_width: f32) -> Vec<Vec<u8>> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    // The widest line in 1/1000 em; a hair of tolerance so that a line measured exactly at the
    // limit is not pushed over by float rounding.
    let max_units = if size > 0.0 {
        (max_width * 1000.0 / size).max(0.0) + 0.01
    } else {
        f32::MAX
    };
    let mut lines = Vec::new();
    for paragraph in text.trim().split('\n') {
        wrap_paragraph(&encode_win_ansi(paragraph), font, max_units, &mut lines);
    }
    lines
}

/// Greedy line filling of one paragraph (WinAnsi bytes, no newline) into `lines`; always adds
/// at least one (possibly empty) line. Runs of spaces between words are kept as they are.
fn wrap_paragraph(paragraph: &[u8], font: Font, max_units: f32, lines: &mut Vec<Vec<u8>>) {
    let fits = |bytes: &[u8]| units(font, bytes) as f32 <= max_units;
    let mut current: Vec<u8> = Vec::new();
    let mut rest = paragraph;
    loop {
        let separator_len = rest.iter().take_while(|&&b| b == b' ').count();
        let (separator, after) = rest.split_at(separator_len);
        if after.is_empty() {
            break;
        }
        let word_len = after.iter().take_while(|&&b| b != b' ').count();
        let (word, remaining) = after.split_at(word_len);
        rest = remaining;

        if !current.is_empty() {
            let mut candidate = current.clone();
            candidate.extend_from_slice(separator);
            candidate.extend_from_slice(word);
            if fits(&candidate) {
                current = candidate;
                continue;
            }
            lines.push(std::mem::take(&mut current));
        }
        // The word starts a line; break it between characters while it is too wide (a single
        // character too wide for the line still gets a line of its own).
        let mut word = word;
        while word.len() > 1 && !fits(word) {
            let mut take = 1;
            while take < word.len() && fits(&word[..=take]) {
                take += 1;
            }
            let (head, tail) = word.split_at(take);
            lines.push(head.to_vec());
            word = tail;
        }
        current = word.to_vec();
    }
    lines.push(current);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn encodes_dutch_text_and_the_euro_sign() {
        assert_eq!(
            encode_win_ansi("€ café ë ï ü ’"),
            vec![
                0x80, b' ', b'c', b'a', b'f', 0xE9, b' ', 0xEB, b' ', 0xEF, b' ', 0xFC, b' ', 0x92
            ]
        );
        assert_eq!(
            decode_win_ansi(&encode_win_ansi("€ café – “ü”")),
            "€ café – “ü”"
        );
    }

    #[test]
    fn characters_outside_win_ansi_become_question_marks() {
        assert_eq!(encode_win_ansi("a→b漢c😀"), b"a?b?c?".to_vec());
        assert_eq!(encode_win_ansi("\u{1}\u{81}"), b"??".to_vec());
        assert_eq!(encode_win_ansi("x\u{AD}y\u{200B}z\r"), b"xyz".to_vec());
        assert_eq!(
            encode_win_ansi("1\u{202F}000\t\u{2212}5"),
            b"1\xA0000 -5".to_vec()
        );
    }

    #[test]
    fn every_win_ansi_character_round_trips_and_has_a_width() {
        for code in (32u8..=126).chain(0x80..=0xFF) {
            let text = decode_win_ansi(&[code]);
            if text == "?" && code != b'?' {
                continue; // one of the undefined codes
            }
            let encoded = encode_win_ansi(&text);
            if code == 0xAD {
                assert!(encoded.is_empty(), "soft hyphen prints nothing");
                continue;
            }
            assert_eq!(encoded, vec![code], "code {code:#x}");
            assert!(
                text_width(&text, Font::Regular, 1000.0) > 0.0,
                "code {code:#x}"
            );
            assert!(
                text_width(&text, Font::Bold, 1000.0) > 0.0,
                "code {code:#x}"
            );
        }
    }

    #[test]
    fn measures_with_the_afm_widths() {
        // H e l v e t i c a = 722 + 556 + 222 + 500 + 556 + 278 + 222 + 500 + 556
        assert_eq!(text_width("Helvetica", Font::Regular, 1000.0), 4112.0);
        // B o l d = 722 + 611 + 278 + 611
        assert_eq!(text_width("Bold", Font::Bold, 1000.0), 2222.0);
        // € space 1 . 2 3 4 , 5 6 = 556 + 278 + 556 + 278 + 3 × 556 + 278 + 2 × 556
        assert!((text_width("€ 1.234,56", Font::Regular, 10.0) - 47.26).abs() < 1e-3);
        assert_eq!(text_width("", Font::Regular, 10.0), 0.0);
    }

    #[test]
    fn wraps_on_word_boundaries_within_the_width() {
        let text = "De uitkering gaat direct in en wordt levenslang maandelijks uitbetaald aan de verzekerde.";
        let lines = wrap_text(text, Font::Regular, 10.0, 120.0);
        assert!(lines.len() > 2, "{lines:?}");
        for line in &lines {
            assert!(text_width(line, Font::Regular, 10.0) <= 120.0, "{line}");
            assert!(!line.starts_with(' ') && !line.ends_with(' '), "{line:?}");
        }
        assert_eq!(lines.join(" "), text);
    }

    #[test]
    fn keeps_a_line_that_fits_verbatim_and_honours_newlines() {
        assert_eq!(
            wrap_text("1234 AB  Ergenshuizen", Font::Regular, 9.0, 200.0),
            vec!["1234 AB  Ergenshuizen"]
        );
        assert_eq!(
            wrap_text("a\n\nb", Font::Regular, 9.0, 200.0),
            vec!["a", "", "b"]
        );
        assert!(wrap_text("   ", Font::Regular, 9.0, 200.0).is_empty());
    }

    #[test]
    fn breaks_a_word_wider_than_the_line_between_characters() {
        let word = "NL91ABNA0417164300NL91ABNA0417164300NL91ABNA0417164300";
        let lines = wrap_text(word, Font::Regular, 10.0, 60.0);
        assert!(lines.len() > 3, "{lines:?}");
        for line in &lines {
            assert!(text_width(line, Font::Regular, 10.0) <= 60.0, "{line}");
        }
        assert_eq!(lines.concat(), word);
        // Even a width narrower than one character makes progress (one character a line).
        assert_eq!(wrap_text("WW", Font::Bold, 10.0, 1.0), vec!["W", "W"]);
    }
}
