//! A one-page certificate as a PDF 1.4, written by hand: catalog, pages, one page,
//! the standard Helvetica fonts, and a content stream with the text and a QR code
//! drawn as filled squares. Offsets in the cross-reference table are exact.

/// What the PDF shows.
pub struct PdfCertificate<'a> {
    pub recipient_name: &'a str,
    pub course_title: &'a str,
    pub issued: &'a str,
    pub id: &'a str,
    pub url: &'a str,
    pub revoked: Option<&'a str>,
    /// `YYYY-MM-DD`: the end of its validity, if it has one.
    pub valid_until: Option<&'a str>,
    /// Past `valid_until` when the PDF is made.
    pub expired: bool,
}

/// Text as a PDF literal string in WinAnsiEncoding; characters it lacks become '?'.
fn literal(s: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for c in s.chars() {
        let b = match c {
            '(' | ')' | '\\' => {
                out.push(b'\\');
                c as u8
            }
            ' '..='~' => c as u8,
            // Latin-1's upper half is the same in WinAnsiEncoding.
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '\u{2019}' => 0x92,
            '\u{2018}' => 0x91,
            '\u{201c}' => 0x93,
            '\u{201d}' => 0x94,
            '\u{2013}' => 0x96,
            '\u{2014}' => 0x97,
            '\u{20ac}' => 0x80,
            _ => b'?',
        };
        out.push(b);
    }
    out.push(b')');
    out
}

/// Helvetica's advance widths are not embedded here; this estimate centres text well enough.
fn approx_width(s: &str, size: f32) -> f32 {
    s.chars().count() as f32 * size * 0.52
}

fn text(out: &mut Vec<u8>, font: &str, size: f32, x: f32, y: f32, s: &str) {
    out.extend_from_slice(format!("BT /{font} {size} Tf {x:.1} {y:.1} Td ").as_bytes());
    out.extend_from_slice(&literal(s));
    out.extend_from_slice(b" Tj ET\n");
}

fn centred(out: &mut Vec<u8>, font: &str, size: f32, y: f32, s: &str) {
    let x = ((842.0 - approx_width(s, size)) / 2.0).max(40.0);
    text(out, font, size, x, y, s);
}

fn content(c: &PdfCertificate<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    // A frame.
    out.extend_from_slice(
        b"0.15 0.3 0.55 RG 3 w 24 24 794 547 re S\n0.5 w 32 32 778 531 re S\n0 0 0 rg\n",
    );
    centred(&mut out, "F2", 30.0, 480.0, "Certificate of completion");
    centred(&mut out, "F1", 14.0, 440.0, "This certifies that");
    centred(&mut out, "F2", 26.0, 400.0, c.recipient_name);
    centred(
        &mut out,
        "F1",
        14.0,
        365.0,
        "has passed the certification exam of",
    );
    centred(&mut out, "F2", 20.0, 330.0, c.course_title);
    centred(
        &mut out,
        "F1",
        12.0,
        295.0,
        &format!("Issued {} by Masterclass", c.issued),
    );
    // The PDF is made on request, so it can say what the public page says today.
    match (c.valid_until, c.expired) {
        (Some(until), false) => {
            centred(&mut out, "F1", 12.0, 277.0, &format!("Valid until {until}"));
        }
        (Some(until), true) => {
            out.extend_from_slice(b"0.7 0 0 rg\n");
            centred(&mut out, "F2", 12.0, 277.0, &format!("Expired on {until}"));
            out.extend_from_slice(b"0 0 0 rg\n");
        }
        (None, _) => {}
    }
    if let Some(reason) = c.revoked {
        out.extend_from_slice(b"0.7 0 0 rg\n");
        centred(&mut out, "F2", 16.0, 250.0, &format!("REVOKED: {reason}"));
        out.extend_from_slice(b"0 0 0 rg\n");
    }
    text(
        &mut out,
        "F1",
        10.0,
        60.0,
        110.0,
        &format!("Certificate ID: {}", c.id),
    );
    text(&mut out, "F1", 10.0, 60.0, 94.0, "Verify it at:");
    text(&mut out, "F1", 10.0, 60.0, 78.0, c.url);
    text(
        &mut out,
        "F1",
        9.0,
        60.0,
        60.0,
        "The signed credential (Open Badges 3.0, VC-JWT) can be checked against the issuer's published keys.",
    );
    // The QR code, bottom right, with its quiet zone left white.
    if let Ok(code) = qrcode::QrCode::new(c.url.as_bytes()) {
        let w = code.width();
        let size = 130.0_f32;
        let module = size / w as f32;
        let (x0, y0) = (842.0 - 60.0 - size, 50.0_f32);
        for (i, color) in code.to_colors().iter().enumerate() {
            if *color == qrcode::Color::Dark {
                let (col, row) = ((i % w) as f32, (i / w) as f32);
                let x = x0 + col * module;
                let y = y0 + size - (row + 1.0) * module;
                out.extend_from_slice(
                    format!("{x:.2} {y:.2} {module:.2} {module:.2} re\n").as_bytes(),
                );
            }
        }
        out.extend_from_slice(b"f\n");
    }
    out
}

/// The PDF's bytes.
pub fn render(c: &PdfCertificate<'_>) -> Vec<u8> {
    let stream = content(c);
    let title = literal(&format!(
        "{} certificate: {}",
        c.course_title, c.recipient_name
    ));
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 842 595] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    let mut s = format!("<< /Length {} >>\nstream\n", stream.len()).into_bytes();
    s.extend_from_slice(&stream);
    s.extend_from_slice(b"\nendstream");
    objects.push(s);
    let mut info = b"<< /Title ".to_vec();
    info.extend_from_slice(&title);
    info.extend_from_slice(b" /Producer (Masterclass) >>");
    objects.push(info);

    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Info {} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1,
            objects.len()
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_maps_text() {
        assert_eq!(literal("a(b)\\é€ж"), b"(a\\(b\\)\\\\\xe9\x80?)".to_vec());
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let pdf = render(&PdfCertificate {
            recipient_name: "Ada Lovelace",
            course_title: "Course",
            issued: "2025-01-01",
            id: "abc",
            url: "https://example.test/certificates/abc",
            revoked: None,
            valid_until: Some("2026-01-01"),
            expired: false,
        });
        // The header's binary comment is not UTF-8; everything after it is ASCII.
        let tail_at = pdf
            .windows(10)
            .rposition(|w| w == b"startxref\n")
            .expect("startxref");
        let tail = std::str::from_utf8(&pdf[tail_at + 10..]).expect("ascii tail");
        let start: usize = tail
            .lines()
            .next()
            .and_then(|l| l.parse().ok())
            .expect("offset");
        let xref = std::str::from_utf8(&pdf[start..]).expect("ascii xref");
        assert!(xref.starts_with("xref\n0 8\n"));
        for (n, line) in xref.lines().skip(3).take(7).enumerate() {
            let off: usize = line[..10].parse().expect("offset");
            assert!(
                pdf[off..].starts_with(format!("{} 0 obj", n + 1).as_bytes()),
                "object {}",
                n + 1
            );
        }
    }
}
