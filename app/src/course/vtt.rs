//! WebVTT captions: validated at import and turned into a transcript.

use super::Cue;

/// Parses a WebVTT file into cues; `Err((line, reason))` on a malformed file.
pub fn parse(text: &str) -> Result<Vec<Cue>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    match lines.first() {
        Some(first)
            if *first == "WEBVTT"
                || first.starts_with("WEBVTT ")
                || first.starts_with("WEBVTT\t") => {}
        _ => return Err((1, "a WebVTT file must start with \"WEBVTT\"".into())),
    }
    let mut cues = Vec::new();
    let mut i = 1;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.is_empty() {
            i += 1;
            continue;
        }
        if line.starts_with("NOTE") || line.starts_with("STYLE") || line.starts_with("REGION") {
            while i < lines.len() && !lines[i].trim().is_empty() {
                i += 1;
            }
            continue;
        }
        // An optional cue identifier precedes the timing line.
        let timing_at = if line.contains("-->") { i } else { i + 1 };
        let timing = lines.get(timing_at).copied().unwrap_or("");
        let (start, end) = timing.split_once("-->").ok_or_else(|| {
            (
                timing_at + 1,
                "expected a cue timing like 00:00:01.000 --> 00:00:04.000".to_string(),
            )
        })?;
        let start_ms = timestamp(start.trim())
            .ok_or_else(|| (timing_at + 1, format!("bad start time {:?}", start.trim())))?;
        let end_field = end.split_whitespace().next().unwrap_or("");
        let end_ms = timestamp(end_field)
            .ok_or_else(|| (timing_at + 1, format!("bad end time {end_field:?}")))?;
        if end_ms <= start_ms {
            return Err((timing_at + 1, "a cue must end after it starts".into()));
        }
        let mut j = timing_at + 1;
        let mut text = Vec::new();
        while j < lines.len() && !lines[j].trim().is_empty() {
            text.push(strip_tags(lines[j].trim()));
            j += 1;
        }
        cues.push(Cue {
            start_ms,
            text: text.join(" "),
        });
        i = j;
    }
    Ok(cues)
}

fn timestamp(s: &str) -> Option<i64> {
    let (hms, ms) = s.split_once('.')?;
    if ms.len() != 3 {
        return None;
    }
    let ms: i64 = ms.parse().ok()?;
    let parts: Vec<&str> = hms.split(':').collect();
    let nums: Option<Vec<i64>> = parts.iter().map(|p| p.parse().ok()).collect();
    let nums = nums?;
    let (h, m, sec) = match nums.as_slice() {
        [m, s] => (0, *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    (m < 60 && sec < 60).then_some(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cues_with_ids_notes_and_voice_tags() {
        let vtt = "WEBVTT - intro\n\nNOTE written by hand\n\n1\n00:00:01.000 --> 00:00:04.500 line:90%\n<v Ana>Welcome to the</v>\nmasterclass.\n\n01:02.250 --> 01:05.000\nSecond &amp; last.\n";
        let cues = parse(vtt).expect("valid");
        assert_eq!(cues.len(), 2);
        assert_eq!(
            cues[0],
            Cue {
                start_ms: 1000,
                text: "Welcome to the masterclass.".into()
            }
        );
        assert_eq!(cues[1].start_ms, 62_250);
        assert_eq!(cues[1].text, "Second & last.");
    }

    #[test]
    fn reports_the_broken_line() {
        assert_eq!(parse("hello").map_err(|e| e.0), Err(1));
        let err =
            parse("WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nbackwards\n").expect_err("invalid");
        assert_eq!(err.0, 3);
        let err = parse("WEBVTT\n\n00:00:0x.000 --> 00:00:01.000\nx\n").expect_err("invalid");
        assert!(err.1.contains("start"), "{}", err.1);
    }
}
