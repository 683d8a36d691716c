//! Characters that are not what they seem: kept out of certificate names, and
//! out of what `masterclass cert verify` prints to a terminal.
//!
//! A name is shown on a public page, printed in a PDF and signed into a
//! credential that others check by reading it. Characters that draw nothing
//! (zero-width spaces and joiners, tags), that reorder the text around them
//! (bidirectional overrides and isolates) or that drive a terminal (ANSI escape
//! sequences, C0 and C1 controls) would let a name read differently from what
//! it is.

/// What kind of hidden character `c` is, or `None` for an ordinary one.
pub fn hidden(c: char) -> Option<&'static str> {
    let kind = match c {
        // The bidirectional controls: embeddings, overrides, isolates, marks.
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{061C}' => "a text-direction control",
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}' | '\u{034F}' => {
            "a zero-width character"
        }
        c if c.is_control() => "a control character",
        '\u{2028}' | '\u{2029}' => "a line or paragraph separator",
        // The rest of Unicode's format characters (general category Cf).
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{2061}'..='\u{2064}'
        | '\u{206A}'..='\u{206F}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}' => "an invisible formatting character",
        // Letters that draw nothing (Hangul fillers, Khmer inherent vowels).
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{17B4}' | '\u{17B5}' => {
            "an invisible character"
        }
        // Noncharacters.
        '\u{FDD0}'..='\u{FDEF}' => "a noncharacter",
        c if (c as u32) & 0xFFFE == 0xFFFE => "a noncharacter",
        _ => return None,
    };
    Some(kind)
}

/// `s` made safe to print on a terminal: each hidden character (see [`hidden`])
/// is shown as its code point, `\u{…}`, so an escape sequence arrives as
/// inert text and a reordering or invisible character is visible as what it is.
/// A backslash is doubled when it could be mistaken for such a code point.
pub fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if hidden(c).is_some() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else if c == '\\' && chars.peek() == Some(&'u') {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_named() {
        assert_eq!(hidden('\u{202E}'), Some("a text-direction control"));
        assert_eq!(hidden('\u{2067}'), Some("a text-direction control"));
        assert_eq!(hidden('\u{200B}'), Some("a zero-width character"));
        assert_eq!(hidden('\u{1B}'), Some("a control character"));
        assert_eq!(hidden('\u{9B}'), Some("a control character"));
        assert_eq!(
            hidden('\u{E0041}'),
            Some("an invisible formatting character")
        );
        for ok in ['a', 'é', 'Ж', 'ن', '中', ' ', '-', '\'', '😀', '\u{FE0F}'] {
            assert_eq!(hidden(ok), None, "{ok:?}");
        }
    }

    #[test]
    fn terminal_text_shows_what_it_hides() {
        assert_eq!(
            for_terminal("Ann\u{1b}[2J\u{1b}]0;x\u{7}\u{202E}eil"),
            "Ann\\u{1b}[2J\\u{1b}]0;x\\u{7}\\u{202e}eil"
        );
        assert_eq!(for_terminal("C:\\users"), "C:\\\\users");
        assert_eq!(for_terminal("plain — text"), "plain — text");
    }
}
