//! A one-page certificate as a PDF 1.4 (A4 landscape), written by hand: catalog,
//! pages, one page, a content stream, and the fonts it uses.
//!
//! Text is set in DejaVu (Serif Bold for the title, the name and the course, Sans
//! for the rest), embedded as subsets: each font is a Type0 font over a TrueType
//! CIDFont (Identity-H), whose glyphs are cut down to the characters the page uses
//! by typst's `subsetter`. Every width comes from the font's own advance widths, the
//! same numbers the PDF's `/W` array gives a viewer, so a centred line is centred
//! exactly and a long name can be measured, shrunk and wrapped to stay inside the
//! border. A character no font has is drawn as the font's missing-glyph box but keeps its
//! place in the `/ToUnicode` map, so the name still copies and searches correctly.
//!
//! The page: a double frame, a seal drawn with paths, the title, the name large,
//! the course, the dates, a signature line with the issuer under it, and the QR
//! code of the public page beside the "Verify at" text, its quiet zone drawn
//! white. A revoked or expired certificate says so in red and across the page.
//! The document information repeats what the certificate states (recipient,
//! course, validity, revocation) as plain fields. Offsets in the cross-reference
//! table are exact.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::LazyLock;

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

/// A4 landscape, in points.
const PAGE_W: f32 = 842.0;
const PAGE_H: f32 = 595.0;
const CENTRE_X: f32 = PAGE_W / 2.0;
/// How far from the paper's edge the inner (gold) frame line runs.
const FRAME: f32 = 31.0;
/// The widest a centred line may be: the frame less a comfortable margin.
const TEXT_W: f32 = PAGE_W - 2.0 * 90.0;
/// Who issues every certificate; the PDF has no other issuer to name.
const ISSUER: &str = "Masterclass";

const NAVY: &str = "0.106 0.184 0.329";
const GOLD: &str = "0.690 0.545 0.251";
const INK: &str = "0.13 0.14 0.17";
const GREY: &str = "0.38 0.40 0.45";
const RED: &str = "0.72 0.09 0.09";
const CREAM: &str = "0.996 0.990 0.968";

// ---------------------------------------------------------------------------
// Fonts
// ---------------------------------------------------------------------------

/// The embedded typefaces (see `app/assets/fonts/LICENSE-DejaVu.txt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Font {
    Sans,
    SansBold,
    SerifBold,
}

impl Font {
    const ALL: [Font; 3] = [Font::Sans, Font::SansBold, Font::SerifBold];

    fn index(self) -> usize {
        match self {
            Font::Sans => 0,
            Font::SansBold => 1,
            Font::SerifBold => 2,
        }
    }

    fn data(self) -> &'static [u8] {
        match self {
            Font::Sans => include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
            Font::SansBold => include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf"),
            Font::SerifBold => include_bytes!("../../assets/fonts/DejaVuSerif-Bold.ttf"),
        }
    }

    fn postscript_name(self) -> &'static str {
        match self {
            Font::Sans => "DejaVuSans",
            Font::SansBold => "DejaVuSans-Bold",
            Font::SerifBold => "DejaVuSerif-Bold",
        }
    }

    /// Where a character this font lacks is looked for next. DejaVu Sans covers
    /// the most scripts (Serif has no Arabic or Hebrew, for instance), so a name
    /// in those still prints, in the nearest weight that has it.
    fn fallbacks(self) -> &'static [Font] {
        match self {
            Font::Sans => &[],
            Font::SansBold => &[Font::Sans],
            Font::SerifBold => &[Font::SansBold, Font::Sans],
        }
    }

    fn face(self) -> &'static ttf_parser::Face<'static> {
        &FACES[self.index()]
    }

    /// A glyph's advance in thousandths of the font size, rounded: the number the
    /// `/W` array carries, so what is measured here is what a viewer draws.
    fn advance(self, gid: u16) -> u32 {
        let face = self.face();
        let em = u32::from(face.units_per_em().max(1));
        let adv = u32::from(
            face.glyph_hor_advance(ttf_parser::GlyphId(gid))
                .unwrap_or(0),
        );
        (adv * 2000 + em) / (2 * em)
    }

    /// A font-unit value in thousandths of the font size.
    fn scaled(self, v: i32) -> i32 {
        let em = i32::from(self.face().units_per_em().max(1));
        v * 1000 / em
    }
}

/// The fonts are compiled in and a unit test parses them, so a failure here is a
/// broken build, not something a request can cause.
static FACES: LazyLock<[ttf_parser::Face<'static>; 3]> = LazyLock::new(|| {
    Font::ALL
        .map(|f| ttf_parser::Face::parse(f.data(), 0).expect("the embedded DejaVu fonts parse"))
});

/// The characters one font sets, in order of first use: a character's CID is its
/// position plus one (CID 0 stays unused), and its glyph id is 0 when no font has it.
#[derive(Default)]
struct Used {
    chars: Vec<(char, u16)>,
    cids: HashMap<char, u16>,
}

impl Used {
    fn cid(&mut self, c: char, gid: u16) -> u16 {
        if let Some(&cid) = self.cids.get(&c) {
            return cid;
        }
        self.chars.push((c, gid));
        // A page sets a few hundred distinct characters at most; the cap only
        // keeps the arithmetic honest.
        let cid = u16::try_from(self.chars.len()).unwrap_or(u16::MAX);
        self.cids.insert(c, cid);
        cid
    }
}

/// Control characters would print as boxes (a name is already free of them; a
/// course title or revocation reason may not be): they set as a space.
fn clean(c: char) -> char {
    if c.is_control() {
        ' '
    } else {
        c
    }
}

/// Measures text and writes the operators that show it, recording which
/// characters each font must embed.
#[derive(Default)]
struct Typesetter {
    used: [Used; 3],
}

impl Typesetter {
    /// The font and glyph that set `c`: `font`, else its first fallback that has
    /// the glyph, else `font`'s .notdef box.
    fn glyph(font: Font, c: char) -> (Font, u16) {
        let c = clean(c);
        for f in std::iter::once(font).chain(font.fallbacks().iter().copied()) {
            if let Some(g) = f.face().glyph_index(c) {
                if g.0 != 0 {
                    return (f, g.0);
                }
            }
        }
        (font, 0)
    }

    /// The width of `s` at `size` points, with `spacing` points after every
    /// character but the last.
    fn width(font: Font, size: f32, spacing: f32, s: &str) -> f32 {
        let mut units = 0u32;
        let mut n = 0u32;
        for c in s.chars() {
            let (f, g) = Self::glyph(font, c);
            units += f.advance(g);
            n += 1;
        }
        units as f32 * size / 1000.0 + spacing * n.saturating_sub(1) as f32
    }

    /// Shows `s` with the text matrix `tm` (its last two numbers are the origin).
    fn show(
        &mut self,
        out: &mut String,
        font: Font,
        size: f32,
        spacing: f32,
        tm: [f32; 6],
        s: &str,
    ) {
        let [a, b, c, d, e, f] = tm;
        out.push_str(&format!(
            "BT {spacing:.3} Tc {a:.4} {b:.4} {c:.4} {d:.4} {e:.3} {f:.3} Tm\n"
        ));
        let mut current: Option<Font> = None;
        let mut hex = String::new();
        for ch in s.chars() {
            let (f, g) = Self::glyph(font, ch);
            if current != Some(f) {
                if let Some(prev) = current {
                    Self::flush(out, prev, size, &mut hex);
                }
                current = Some(f);
            }
            let cid = self.used[f.index()].cid(clean(ch), g);
            hex.push_str(&format!("{cid:04X}"));
        }
        if let Some(prev) = current {
            Self::flush(out, prev, size, &mut hex);
        }
        out.push_str("ET\n");
    }

    fn flush(out: &mut String, font: Font, size: f32, hex: &mut String) {
        out.push_str(&format!("/F{} {size:.2} Tf <{hex}> Tj\n", font.index() + 1));
        hex.clear();
    }

    /// Shows `s` starting at (x, y).
    fn left(&mut self, out: &mut String, font: Font, size: f32, x: f32, y: f32, s: &str) {
        self.show(out, font, size, 0.0, [1.0, 0.0, 0.0, 1.0, x, y], s);
    }

    /// Shows `s` ending at (x, y).
    fn right(&mut self, out: &mut String, font: Font, size: f32, x: f32, y: f32, s: &str) {
        let w = Self::width(font, size, 0.0, s);
        self.left(out, font, size, x - w, y, s);
    }

    /// Shows `s` centred on the page at height `y`; returns where it starts.
    fn centred(
        &mut self,
        out: &mut String,
        font: Font,
        size: f32,
        spacing: f32,
        y: f32,
        s: &str,
    ) -> f32 {
        let x = centred_x(font, size, spacing, s);
        self.show(out, font, size, spacing, [1.0, 0.0, 0.0, 1.0, x, y], s);
        x
    }
}

/// Where a line centred on the page starts.
fn centred_x(font: Font, size: f32, spacing: f32, s: &str) -> f32 {
    (PAGE_W - Typesetter::width(font, size, spacing, s)) / 2.0
}

// ---------------------------------------------------------------------------
// Fitting text into a width
// ---------------------------------------------------------------------------

/// How a block of text may be fitted.
struct Fit {
    font: Font,
    /// The size it is set at when it fits on one line.
    max: f32,
    /// Below this it wraps rather than shrinking further on one line.
    one_line_min: f32,
    /// The largest size for two lines (two lines of the one-line size would not
    /// fit the space the layout leaves).
    two_line_max: f32,
    /// The smallest size at all; past it the text is cut with an ellipsis.
    min: f32,
    width: f32,
    lines: usize,
}

/// A fitted block: its size and lines, each within the width at that size.
#[derive(Debug)]
struct Fitted {
    size: f32,
    lines: Vec<String>,
}

/// Sizes are rounded down to a tenth of a point, so a fitted line never
/// overshoots its width through rounding.
fn floor_tenth(v: f32) -> f32 {
    (v * 10.0).floor() / 10.0
}

impl Fit {
    fn apply(&self, text: &str) -> Fitted {
        // Measuring is quadratic in the worst case; more characters than this
        // could not fit in two lines at any size the layout allows anyway.
        const LONGEST: usize = 400;
        let trimmed = text.trim();
        let mut text: String = trimmed.chars().take(LONGEST).collect();
        if text.len() < trimmed.len() {
            text.push('…');
        }
        let text = text.as_str();
        let unit = |s: &str| Typesetter::width(self.font, 1.0, 0.0, s);
        let w1 = unit(text);
        let one = if w1 > 0.0 {
            floor_tenth((self.width / w1).min(self.max))
        } else {
            self.max
        };
        if one >= self.one_line_min || (self.lines < 2 && one >= self.min) {
            return Fitted {
                size: one,
                lines: vec![text.to_string()],
            };
        }
        if self.lines >= 2 {
            if let Some((a, b)) = best_split(text, &unit) {
                let widest = unit(&a).max(unit(&b));
                let size = floor_tenth((self.width / widest).min(self.two_line_max));
                if size >= self.min {
                    return Fitted {
                        size,
                        lines: vec![a, b],
                    };
                }
            }
        }
        // Two lines do not help (one word takes nearly all of it): one smaller line.
        if one >= self.min {
            return Fitted {
                size: one,
                lines: vec![text.to_string()],
            };
        }
        // Too long even at the smallest size: fill the lines greedily and cut the
        // last one, so nothing ever runs past the border.
        let fits = |s: &str| unit(s) * self.min <= self.width;
        let mut lines = Vec::new();
        let mut rest = text.to_string();
        while lines.len() + 1 < self.lines && !fits(&rest) {
            let (head, tail) = greedy_head(&rest, &fits);
            lines.push(head);
            rest = tail;
        }
        lines.push(ellipsize(&rest, &fits));
        Fitted {
            size: self.min,
            lines,
        }
    }
}

/// The split into two lines whose wider line is narrowest: at spaces when the
/// text has any (a name breaks between words), else between any two characters
/// (a long name in a script written without spaces), never before a zero-width
/// mark that belongs to the character before it.
fn best_split(text: &str, unit: &dyn Fn(&str) -> f32) -> Option<(String, String)> {
    let spaces: Vec<usize> = text.match_indices(' ').map(|(i, _)| i).collect();
    let candidates: Vec<(usize, usize)> = if spaces.is_empty() {
        text.char_indices()
            .skip(1)
            .filter(|&(_, c)| unit(&c.to_string()) > 0.0)
            .map(|(i, _)| (i, i))
            .collect()
    } else {
        spaces.iter().map(|&i| (i, i + 1)).collect()
    };
    candidates
        .into_iter()
        .map(|(end, start)| {
            let (a, b) = (text[..end].trim_end(), text[start..].trim_start());
            (unit(a).max(unit(b)), a, b)
        })
        .filter(|(_, a, b)| !a.is_empty() && !b.is_empty())
        .min_by(|x, y| x.0.total_cmp(&y.0))
        .map(|(_, a, b)| (a.to_string(), b.to_string()))
}

/// The longest head of `s` that fits, broken at a space if one fits, and the rest.
fn greedy_head(s: &str, fits: &dyn Fn(&str) -> bool) -> (String, String) {
    let mut best_space = None;
    let mut best_char = None;
    for (i, c) in s.char_indices().skip(1) {
        if !fits(&s[..i]) {
            break;
        }
        if c == ' ' {
            best_space = Some(i);
        }
        best_char = Some(i);
    }
    // Even one character too wide for the line: take it anyway, the ellipsis
    // step below cuts what cannot fit.
    let at = best_space
        .or(best_char)
        .unwrap_or_else(|| s.chars().next().map_or(s.len(), char::len_utf8));
    (
        s[..at].trim_end().to_string(),
        s[at..].trim_start().to_string(),
    )
}

/// `s` if it fits, else its longest head that fits with "…" after it.
fn ellipsize(s: &str, fits: &dyn Fn(&str) -> bool) -> String {
    if fits(s) {
        return s.to_string();
    }
    let mut cut = String::from("…");
    for (i, _) in s.char_indices().rev() {
        let candidate = format!("{}…", s[..i].trim_end());
        if fits(&candidate) {
            cut = candidate;
            break;
        }
    }
    cut
}

/// A URL broken into lines of at most `width`, after its slashes (where a reader
/// expects a URL to break), and between any characters when a part is too long.
fn wrap_url(url: &str, fits: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut parts: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in url.char_indices() {
        if c == '/' && url[i + 1..].chars().next().is_some_and(|n| n != '/') {
            parts.push(&url[start..=i]);
            start = i + 1;
        }
    }
    parts.push(&url[start..]);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        if fits(&format!("{line}{part}")) {
            line.push_str(part);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for c in part.chars() {
            if !line.is_empty() && !fits(&format!("{line}{c}")) {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

// ---------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------

/// A circle as four Bézier curves.
fn circle(out: &mut String, cx: f32, cy: f32, r: f32) {
    let k = 0.552_284_8 * r;
    out.push_str(&format!(
        "{:.2} {cy:.2} m {:.2} {:.2} {:.2} {:.2} {cx:.2} {:.2} c \
         {:.2} {:.2} {:.2} {:.2} {:.2} {cy:.2} c \
         {:.2} {:.2} {:.2} {:.2} {cx:.2} {:.2} c \
         {:.2} {:.2} {:.2} {:.2} {:.2} {cy:.2} c h\n",
        cx + r,
        cx + r,
        cy + k,
        cx + k,
        cy + r,
        cy + r,
        cx - k,
        cy + r,
        cx - r,
        cy + k,
        cx - r,
        cx - r,
        cy - k,
        cx - k,
        cy - r,
        cy - r,
        cx + k,
        cy - r,
        cx + r,
        cy - k,
        cx + r,
    ));
}

/// A small diamond, filled with the current colour.
fn diamond(out: &mut String, cx: f32, cy: f32, r: f32) {
    out.push_str(&format!(
        "{:.2} {cy:.2} m {cx:.2} {:.2} l {:.2} {cy:.2} l {cx:.2} {:.2} l h f\n",
        cx - r,
        cy + r,
        cx + r,
        cy - r
    ));
}

/// The page's background and double frame, with diamonds at the inner corners.
fn frame(out: &mut String) {
    out.push_str(&format!(
        "q {CREAM} rg 22 22 {:.1} {:.1} re f Q\n",
        PAGE_W - 44.0,
        PAGE_H - 44.0
    ));
    out.push_str(&format!(
        "q {NAVY} RG 7 w 22 22 {:.1} {:.1} re S Q\n",
        PAGE_W - 44.0,
        PAGE_H - 44.0
    ));
    out.push_str(&format!(
        "q {GOLD} RG 1.2 w {FRAME} {FRAME} {:.1} {:.1} re S 0.5 w {:.1} {:.1} {:.1} {:.1} re S Q\n",
        PAGE_W - 2.0 * FRAME,
        PAGE_H - 2.0 * FRAME,
        FRAME + 4.0,
        FRAME + 4.0,
        PAGE_W - 2.0 * FRAME - 8.0,
        PAGE_H - 2.0 * FRAME - 8.0
    ));
    out.push_str(&format!("q {GOLD} rg\n"));
    for (x, y) in [
        (FRAME, FRAME),
        (PAGE_W - FRAME, FRAME),
        (FRAME, PAGE_H - FRAME),
        (PAGE_W - FRAME, PAGE_H - FRAME),
    ] {
        diamond(out, x, y, 6.0);
    }
    out.push_str("Q\n");
}

/// The seal: a gold rosette around a navy disc with a gold ring and a tick.
fn seal(out: &mut String, cx: f32, cy: f32, r: f32) {
    let teeth = 36;
    out.push_str(&format!("q {GOLD} rg\n"));
    for i in 0..teeth * 2 {
        let a = i as f32 * std::f32::consts::PI / teeth as f32;
        let rr = if i % 2 == 0 { r } else { r * 0.9 };
        let (x, y) = (cx + rr * a.cos(), cy + rr * a.sin());
        out.push_str(&format!(
            "{x:.2} {y:.2} {}\n",
            if i == 0 { "m" } else { "l" }
        ));
    }
    out.push_str("h f\n");
    out.push_str(&format!("{NAVY} rg\n"));
    circle(out, cx, cy, r * 0.8);
    out.push_str("f\n");
    out.push_str(&format!("{GOLD} RG {:.2} w\n", r * 0.03));
    circle(out, cx, cy, r * 0.7);
    out.push_str("S\n");
    out.push_str(&format!(
        "{GOLD} RG 1 J 1 j {:.2} w {:.2} {:.2} m {:.2} {:.2} l {:.2} {:.2} l S Q\n",
        r * 0.12,
        cx - r * 0.3,
        cy + r * 0.02,
        cx - r * 0.08,
        cy - r * 0.22,
        cx + r * 0.33,
        cy + r * 0.26,
    ));
}

/// Draws `s` as filled glyph outlines, not text: the watermark is a picture of a
/// word, so its letters do not turn up among the lines it crosses when the page's
/// text is copied or extracted.
fn outlined(out: &mut String, font: Font, size: f32, tm: [f32; 6], s: &str) {
    let mut x = 0.0;
    for c in s.chars() {
        let (f, g) = Typesetter::glyph(font, c);
        let scale = size / f32::from(f.face().units_per_em().max(1));
        let mut pen = Pen {
            out: &mut *out,
            tm,
            scale,
            x,
            last: (0.0, 0.0),
        };
        f.face().outline_glyph(ttf_parser::GlyphId(g), &mut pen);
        x += f.advance(g) as f32 * size / 1000.0;
    }
    out.push_str("f\n");
}

/// Writes a glyph's outline as path operators, placed by a text matrix.
struct Pen<'a> {
    out: &'a mut String,
    tm: [f32; 6],
    /// Font units to points.
    scale: f32,
    /// Where the glyph starts along the baseline, in points.
    x: f32,
    /// The current point, in font units (quadratic curves need it).
    last: (f32, f32),
}

impl Pen<'_> {
    fn point(&self, x: f32, y: f32) -> String {
        let [a, b, c, d, e, f] = self.tm;
        let (u, v) = (self.x + x * self.scale, y * self.scale);
        format!("{:.2} {:.2}", a * u + c * v + e, b * u + d * v + f)
    }
}

impl ttf_parser::OutlineBuilder for Pen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let p = self.point(x, y);
        self.out.push_str(&format!("{p} m\n"));
        self.last = (x, y);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let p = self.point(x, y);
        self.out.push_str(&format!("{p} l\n"));
        self.last = (x, y);
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        // PDF has only cubic curves; a quadratic one is the cubic whose control
        // points lie two thirds of the way to the quadratic's.
        let (x0, y0) = self.last;
        let c1 = self.point(x0 + 2.0 / 3.0 * (x1 - x0), y0 + 2.0 / 3.0 * (y1 - y0));
        let c2 = self.point(x + 2.0 / 3.0 * (x1 - x), y + 2.0 / 3.0 * (y1 - y));
        let p = self.point(x, y);
        self.out.push_str(&format!("{c1} {c2} {p} c\n"));
        self.last = (x, y);
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (c1, c2, p) = (self.point(x1, y1), self.point(x2, y2), self.point(x, y));
        self.out.push_str(&format!("{c1} {c2} {p} c\n"));
        self.last = (x, y);
    }

    fn close(&mut self) {
        self.out.push_str("h\n");
    }
}

/// A gold rule with a diamond in its middle, under the title.
fn ornament(out: &mut String, cx: f32, y: f32, half: f32) {
    out.push_str(&format!(
        "q {GOLD} RG {GOLD} rg 0.8 w {:.2} {y:.2} m {:.2} {y:.2} l S {:.2} {y:.2} m {:.2} {y:.2} l S\n",
        cx - half,
        cx - 9.0,
        cx + 9.0,
        cx + half
    ));
    diamond(out, cx, y, 3.5);
    out.push_str("Q\n");
}

/// The QR code of `url` in a white square, its quiet zone (four modules) included;
/// `size` is the side of the code itself. Returns the square's side, or `None` if
/// the URL is too long for a QR code.
fn qr(out: &mut String, url: &str, right: f32, bottom: f32, size: f32) -> Option<f32> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let w = code.width();
    let module = size / w as f32;
    let side = module * (w + 8) as f32;
    let (x0, top) = (right - side + 4.0 * module, bottom + side - 4.0 * module);
    out.push_str(&format!(
        "q 1 1 1 rg {:.2} {bottom:.2} {side:.2} {side:.2} re f 0 0 0 rg\n",
        right - side
    ));
    // One rectangle per run of dark modules in a row: far fewer operators than
    // one per module, and no hairline seams between neighbours in a row.
    let colors = code.to_colors();
    for (row, cells) in colors.chunks(w).enumerate() {
        let y = top - (row + 1) as f32 * module;
        let mut col = 0;
        while col < w {
            if cells[col] != qrcode::Color::Dark {
                col += 1;
                continue;
            }
            let start = col;
            while col < w && cells[col] == qrcode::Color::Dark {
                col += 1;
            }
            out.push_str(&format!(
                "{:.3} {y:.3} {:.3} {module:.3} re\n",
                x0 + start as f32 * module,
                (col - start) as f32 * module
            ));
        }
    }
    out.push_str("f Q\n");
    Some(side)
}

// ---------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------

/// One line of the middle of the page, or the rule under the name.
enum Piece {
    /// Runs of text, each in its font, size and colour, centred together.
    Line(Vec<(Font, f32, &'static str, String)>),
    /// A gold rule this far either side of the middle.
    Rule(f32),
}

fn content(c: &PdfCertificate<'_>, ts: &mut Typesetter) -> String {
    let mut out = String::new();
    frame(&mut out);

    // Behind everything else: a certificate that no longer stands says so across
    // the whole page, so no crop or print hides it.
    let watermark = if c.revoked.is_some() {
        Some("REVOKED")
    } else if c.expired {
        Some("EXPIRED")
    } else {
        None
    };
    if let Some(mark) = watermark {
        let size = 130.0;
        let w = Typesetter::width(Font::SansBold, size, 0.0, mark);
        let (sin, cos) = 0.32_f32.sin_cos();
        // The origin such that the word's middle (half its width, half its cap
        // height) is the page's middle.
        let (hx, hy) = (w / 2.0, size * 0.36);
        let (x, y) = (
            CENTRE_X - (hx * cos - hy * sin),
            PAGE_H / 2.0 - (hx * sin + hy * cos),
        );
        out.push_str("q 0.97 0.85 0.85 rg\n");
        outlined(
            &mut out,
            Font::SansBold,
            size,
            [cos, sin, -sin, cos, x, y],
            mark,
        );
        out.push_str("Q\n");
    }

    seal(&mut out, CENTRE_X, 503.0, 32.0);

    out.push_str(&format!("{NAVY} rg\n"));
    ts.centred(
        &mut out,
        Font::SerifBold,
        27.0,
        3.0,
        428.0,
        "CERTIFICATE OF COMPLETION",
    );
    ornament(&mut out, CENTRE_X, 410.0, 130.0);

    // The middle of the page, as lines with the drop from the line above: laid
    // out first, so that when a long name, a long course title and the status
    // lines all need room, the gaps close up together above the signature and
    // the QR code rather than anything running into them.
    let mut pieces: Vec<(f32, Piece)> = Vec::new();
    let line = |font: Font, size: f32, colour: &'static str, text: &str| {
        Piece::Line(vec![(font, size, colour, text.to_string())])
    };
    pieces.push((0.0, line(Font::Sans, 13.0, GREY, "This certifies that")));

    let name = Fit {
        font: Font::SerifBold,
        max: 40.0,
        one_line_min: 26.0,
        two_line_max: 27.0,
        min: 14.0,
        width: TEXT_W,
        lines: 2,
    }
    .apply(c.recipient_name);
    let mut drop = if name.lines.len() > 1 { 36.0 } else { 48.0 };
    for l in &name.lines {
        pieces.push((drop, line(Font::SerifBold, name.size, INK, l)));
        drop = name.size * 1.18;
    }
    let widest = name
        .lines
        .iter()
        .map(|l| Typesetter::width(Font::SerifBold, name.size, 0.0, l))
        .fold(0.0_f32, f32::max);
    let half = ((widest + 60.0).max(340.0) / 2.0).min(TEXT_W / 2.0);
    pieces.push((14.0, Piece::Rule(half)));
    pieces.push((
        27.0,
        line(
            Font::Sans,
            13.0,
            GREY,
            "has passed the certification exam of",
        ),
    ));

    let course = Fit {
        font: Font::SerifBold,
        max: 23.0,
        one_line_min: 17.0,
        two_line_max: 17.0,
        min: 11.0,
        width: TEXT_W,
        lines: 2,
    }
    .apply(c.course_title);
    let mut drop = 33.0;
    for l in &course.lines {
        pieces.push((drop, line(Font::SerifBold, course.size, NAVY, l)));
        drop = course.size * 1.18;
    }

    // The PDF is made on request, so it can say what the public page says today.
    let issued = format!("Issued {}", c.issued);
    pieces.push((
        32.0,
        match (c.valid_until, c.expired) {
            (Some(until), false) => line(
                Font::Sans,
                11.5,
                GREY,
                &format!("{issued} \u{b7} Valid until {until}"),
            ),
            (Some(until), true) => Piece::Line(vec![
                (Font::Sans, 11.5, GREY, format!("{issued} \u{b7} ")),
                (Font::SansBold, 11.5, RED, format!("Expired on {until}")),
            ]),
            (None, _) => line(Font::Sans, 11.5, GREY, &issued),
        },
    ));
    if let Some(reason) = c.revoked {
        // Narrower than the page: it stays clear of the QR code beside it.
        let f = Fit {
            font: Font::SansBold,
            max: 13.0,
            one_line_min: 10.0,
            two_line_max: 10.0,
            min: 8.0,
            width: 420.0,
            lines: 2,
        }
        .apply(&format!("REVOKED: {reason}"));
        let mut drop = 21.0;
        for l in &f.lines {
            pieces.push((drop, line(Font::SansBold, f.size, RED, l)));
            drop = f.size * 1.25;
        }
    }

    let (top, floor) = (378.0, 178.0);
    let total: f32 = pieces.iter().map(|(d, _)| d).sum();
    let squeeze = ((top - floor) / total).min(1.0);
    let mut y = top;
    for (d, piece) in &pieces {
        y -= d * squeeze;
        match piece {
            Piece::Line(runs) => {
                let width: f32 = runs
                    .iter()
                    .map(|(f, size, _, t)| Typesetter::width(*f, *size, 0.0, t))
                    .sum();
                let mut x = (PAGE_W - width) / 2.0;
                for (f, size, colour, t) in runs {
                    out.push_str(&format!("{colour} rg\n"));
                    ts.left(&mut out, *f, *size, x, y, t);
                    x += Typesetter::width(*f, *size, 0.0, t);
                }
            }
            Piece::Rule(half) => out.push_str(&format!(
                "q {GOLD} RG 0.6 w {:.2} {y:.2} m {:.2} {y:.2} l S Q\n",
                CENTRE_X - half,
                CENTRE_X + half
            )),
        }
    }

    signature(ts, &mut out);
    verification(ts, &mut out, c);
    out
}

/// Bottom left: a signature line with the issuer under it.
fn signature(ts: &mut Typesetter, out: &mut String) {
    let (x0, x1, y) = (74.0, 294.0, 120.0);
    let cx = (x0 + x1) / 2.0;
    // The issuer's name as a signature: the serif, slanted (the embedded fonts
    // have no italic, and a shear of the text matrix is what an oblique is).
    let size = 24.0;
    let w = Typesetter::width(Font::SerifBold, size, 0.0, ISSUER);
    out.push_str(&format!("{NAVY} rg\n"));
    ts.show(
        out,
        Font::SerifBold,
        size,
        0.0,
        [1.0, 0.0, 0.22, 1.0, cx - w / 2.0 - 2.0, y + 9.0],
        ISSUER,
    );
    out.push_str(&format!(
        "q {INK} RG 0.7 w {x0:.1} {y:.1} m {x1:.1} {y:.1} l S Q\n"
    ));
    out.push_str(&format!("{INK} rg\n"));
    let w = Typesetter::width(Font::SansBold, 10.5, 0.0, ISSUER);
    ts.left(out, Font::SansBold, 10.5, cx - w / 2.0, y - 16.0, ISSUER);
    out.push_str(&format!("{GREY} rg\n"));
    let label = "Issuer";
    let w = Typesetter::width(Font::Sans, 8.5, 0.0, label);
    ts.left(out, Font::Sans, 8.5, cx - w / 2.0, y - 29.0, label);
}

/// Bottom right: the QR code of the public page, and beside it where to verify
/// the certificate and its id.
fn verification(ts: &mut Typesetter, out: &mut String, c: &PdfCertificate<'_>) {
    let (right, bottom) = (PAGE_W - 62.0, 54.0);
    let side = qr(out, c.url, right, bottom, 108.0).unwrap_or(0.0);
    let middle = bottom + if side > 0.0 { side / 2.0 } else { 60.0 };
    let text_right = right - side - 8.0;
    let text_w = text_right - 380.0;

    let size = 9.0;
    let fits = |s: &str| Typesetter::width(Font::Sans, size, 0.0, s) <= text_w;
    let mut url = wrap_url(c.url, &fits);
    // Three lines at most (the QR code carries the whole address); a cut says so.
    if url.len() > 3 {
        let rest = url[2..].concat();
        url.truncate(2);
        url.push(ellipsize(&rest, &fits));
    }
    let id = ellipsize(c.id, &fits);

    // Label, URL lines, a gap, label, id: centred on the QR code's middle.
    let lead = 12.0;
    let height = lead * (url.len() as f32 + 3.0) + 4.0;
    let mut y = middle + height / 2.0 - 8.0;
    out.push_str(&format!("{NAVY} rg\n"));
    ts.right(out, Font::SansBold, 9.0, text_right, y, "Verify at");
    out.push_str(&format!("{INK} rg\n"));
    for line in &url {
        y -= lead;
        ts.right(out, Font::Sans, size, text_right, y, line);
    }
    y -= lead + 4.0;
    out.push_str(&format!("{NAVY} rg\n"));
    ts.right(out, Font::SansBold, 9.0, text_right, y, "Certificate ID");
    y -= lead;
    out.push_str(&format!("{INK} rg\n"));
    ts.right(out, Font::Sans, size, text_right, y, &id);
}

// ---------------------------------------------------------------------------
// The file
// ---------------------------------------------------------------------------

/// zlib-compressed bytes, for `/FlateDecode`.
fn deflate(data: &[u8]) -> Option<Vec<u8>> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(data).ok()?;
    z.finish().ok()
}

/// A stream object, compressed when that works (it always should; uncompressed
/// is still a valid PDF).
fn stream(extra: &str, data: &[u8]) -> Vec<u8> {
    let (body, filter) = match deflate(data) {
        Some(z) => (z, " /Filter /FlateDecode"),
        None => (data.to_vec(), ""),
    };
    let mut s = format!("<< /Length {}{filter}{extra} >>\nstream\n", body.len()).into_bytes();
    s.extend_from_slice(&body);
    s.extend_from_slice(b"\nendstream");
    s
}

/// A PDF text string for the document information: a literal when it is plain
/// ASCII (readable in the file as it is), else UTF-16BE with its byte order mark,
/// in hex, so any name survives.
fn text_string(s: &str) -> String {
    if s.chars().all(|c| matches!(c, ' '..='~')) {
        let mut out = String::from("(");
        for c in s.chars() {
            if matches!(c, '(' | ')' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push(')');
        return out;
    }
    let mut out = String::from("<FEFF");
    for u in s.encode_utf16() {
        out.push_str(&format!("{u:04X}"));
    }
    out.push('>');
    out
}

/// The document information: besides the title, what the certificate states, as
/// fields of their own (viewers list them as custom properties), so a program
/// can read them without extracting the page's text.
fn info(c: &PdfCertificate<'_>) -> String {
    let mut fields = vec![
        (
            "Title",
            format!("{} certificate: {}", c.course_title, c.recipient_name),
        ),
        ("Author", ISSUER.to_string()),
        ("Subject", "Certificate of completion".to_string()),
        ("Recipient", c.recipient_name.to_string()),
        ("Course", c.course_title.to_string()),
        ("CertificateID", c.id.to_string()),
        ("Issued", c.issued.to_string()),
    ];
    if let Some(until) = c.valid_until {
        let validity = if c.expired {
            format!("Expired on {until}")
        } else {
            format!("Valid until {until}")
        };
        fields.push(("Validity", validity));
    }
    if let Some(reason) = c.revoked {
        fields.push(("Revoked", reason.to_string()));
    }
    fields.push(("Producer", ISSUER.to_string()));
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("/{k} {} ", text_string(v)))
        .collect();
    format!("<< {body}>>")
}

/// The six-letter tag a subset font's name carries (PDF 1.7, 9.6.4), from the
/// characters it holds, so that two different subsets are not taken for one.
fn subset_tag(font: Font, used: &Used) -> String {
    // FNV-1a: stable across builds and platforms, unlike the std hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in font.postscript_name().bytes().chain(
        used.chars
            .iter()
            .flat_map(|(c, _)| u32::from(*c).to_be_bytes()),
    ) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (0..6)
        .map(|i| char::from(b'A' + ((h >> (i * 5)) % 26) as u8))
        .collect()
}

/// The `/ToUnicode` CMap: each CID to the character it stands for.
fn to_unicode(used: &Used) -> String {
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    // A bfchar section holds at most 100 entries.
    for (block, chunk) in used.chars.chunks(100).enumerate() {
        out.push_str(&format!("{} beginbfchar\n", chunk.len()));
        for (i, (c, _)) in chunk.iter().enumerate() {
            let cid = block * 100 + i + 1;
            let mut units = [0u16; 2];
            let hex: String = c
                .encode_utf16(&mut units)
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            out.push_str(&format!("<{cid:04X}> <{hex}>\n"));
        }
        out.push_str("endbfchar\n");
    }
    out.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    out
}

/// The objects of one embedded font, numbered from `first`: the Type0 font, its
/// CIDFont, descriptor, font file, ToUnicode map and CID-to-glyph map.
fn font_objects(font: Font, used: &Used, first: usize) -> Vec<Vec<u8>> {
    let face = font.face();
    let mut remapper = subsetter::GlyphRemapper::new();
    for &(_, gid) in &used.chars {
        remapper.remap(gid);
    }
    // The subset keeps only these glyphs, renumbered; if subsetting ever failed,
    // the whole font with its own numbering is still a correct (if large) PDF.
    let (file, new_gid): (Vec<u8>, Box<dyn Fn(u16) -> u16>) = match subsetter::subset(
        font.data(),
        0,
        &remapper,
    ) {
        Ok(file) => (file, Box::new(move |g| remapper.get(g).unwrap_or(0))),
        Err(e) => {
            tracing::warn!(error = %e, font = font.postscript_name(), "font subsetting failed; embedding the whole font");
            (font.data().to_vec(), Box::new(|g| g))
        }
    };
    let mut cid_to_gid = vec![0u8, 0];
    let mut widths = String::new();
    for &(_, gid) in &used.chars {
        cid_to_gid.extend_from_slice(&new_gid(gid).to_be_bytes());
        widths.push_str(&format!("{} ", font.advance(gid)));
    }
    let name = format!("{}+{}", subset_tag(font, used), font.postscript_name());
    let bbox = face.global_bounding_box();
    let s = |v: i16| font.scaled(i32::from(v));
    let serif = matches!(font, Font::SerifBold);
    let bold = !matches!(font, Font::Sans);
    vec![
        format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
             /DescendantFonts [{} 0 R] /ToUnicode {} 0 R >>",
            first + 1,
            first + 4
        )
        .into_bytes(),
        format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
             /FontDescriptor {} 0 R /DW 0 /W [1 [{}]] /CIDToGIDMap {} 0 R >>",
            first + 2,
            widths.trim_end(),
            first + 5
        )
        .into_bytes(),
        format!(
            "<< /Type /FontDescriptor /FontName /{name} /Flags {} /FontBBox [{} {} {} {}] \
             /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV {} /FontFile2 {} 0 R >>",
            // Nonsymbolic (32), plus Serif (2); ForceBold (1 << 18) for the bold faces.
            32 + if serif { 2 } else { 0 } + if bold { 1 << 18 } else { 0 },
            s(bbox.x_min),
            s(bbox.y_min),
            s(bbox.x_max),
            s(bbox.y_max),
            s(face.ascender()),
            s(face.descender()),
            s(face.capital_height().unwrap_or(face.ascender())),
            if bold { 140 } else { 80 },
            first + 3
        )
        .into_bytes(),
        stream(&format!(" /Length1 {}", file.len()), &file),
        stream("", to_unicode(used).as_bytes()),
        stream("", &cid_to_gid),
    ]
}

/// The PDF's bytes.
pub fn render(c: &PdfCertificate<'_>) -> Vec<u8> {
    let mut ts = Typesetter::default();
    let page = content(c, &mut ts);

    // 1 catalog, 2 pages, 3 page, 4 content, 5 info, then six objects per font.
    let fonts: Vec<Font> = Font::ALL
        .into_iter()
        .filter(|f| !ts.used[f.index()].chars.is_empty())
        .collect();
    let font_refs: String = fonts
        .iter()
        .enumerate()
        .map(|(i, f)| format!("/F{} {} 0 R ", f.index() + 1, 6 + 6 * i))
        .collect();
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
             /Resources << /Font << {font_refs}>> >> /Contents 4 0 R >>"
        )
        .into_bytes(),
        stream("", page.as_bytes()),
        info(c).into_bytes(),
    ];
    for (i, f) in fonts.iter().enumerate() {
        objects.extend(font_objects(*f, &ts.used[f.index()], 6 + 6 * i));
    }

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
            "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1,
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(name: &'a str, course: &'a str) -> PdfCertificate<'a> {
        PdfCertificate {
            recipient_name: name,
            course_title: course,
            issued: "2025-01-01",
            id: "0123456789abcdef0123456789abcdef",
            url: "https://masterclass.example.org/certificates/0123456789abcdef0123456789abcdef",
            revoked: None,
            valid_until: Some("2026-01-01"),
            expired: false,
        }
    }

    /// The objects the cross-reference table points at, checked to start where it says.
    fn objects(pdf: &[u8]) -> Vec<&[u8]> {
        // The header's binary comment is not UTF-8; the tail after startxref is ASCII.
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
        let mut lines = xref.lines();
        assert_eq!(lines.next(), Some("xref"));
        let count: usize = lines
            .next()
            .and_then(|l| l.strip_prefix("0 "))
            .and_then(|n| n.parse().ok())
            .expect("count");
        assert_eq!(lines.next(), Some("0000000000 65535 f "));
        let offsets: Vec<usize> = lines
            .take(count - 1)
            .map(|l| l[..10].parse().expect("offset"))
            .collect();
        assert_eq!(offsets.len(), count - 1);
        assert!(xref.contains(&format!("/Size {count} ")));
        offsets
            .iter()
            .enumerate()
            .map(|(n, &off)| {
                let head = format!("{} 0 obj\n", n + 1);
                assert!(pdf[off..].starts_with(head.as_bytes()), "object {}", n + 1);
                let body = &pdf[off + head.len()..];
                let end = body
                    .windows(7)
                    .position(|w| w == b"\nendobj")
                    .expect("endobj");
                &body[..end]
            })
            .collect()
    }

    /// A stream object's data, inflated.
    fn inflate(obj: &[u8]) -> Vec<u8> {
        let at = obj
            .windows(7)
            .position(|w| w == b"stream\n")
            .expect("stream")
            + 7;
        let end = obj.len() - b"\nendstream".len();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&obj[at..end]), &mut out)
            .expect("inflates");
        out
    }

    fn dict(obj: &[u8]) -> String {
        let end = obj
            .windows(6)
            .position(|w| w == b"stream")
            .unwrap_or(obj.len());
        String::from_utf8_lossy(&obj[..end]).into_owned()
    }

    #[test]
    fn the_fonts_parse() {
        for f in Font::ALL {
            assert!(f.face().number_of_glyphs() > 1000, "{f:?}");
            assert_eq!(Typesetter::glyph(f, 'A').0, f);
        }
    }

    #[test]
    fn widths_are_the_fonts_own() {
        // DejaVu Sans: 2048 units to the em, "W" advances 2025, "i" 569.
        let face = ttf_parser::Face::parse(Font::Sans.data(), 0).expect("font");
        let adv = |c| {
            let g = face.glyph_index(c).expect("glyph");
            f32::from(face.glyph_hor_advance(g).expect("advance")) / 2048.0
        };
        let w = Typesetter::width(Font::Sans, 100.0, 0.0, "Wi");
        assert!((w - 100.0 * (adv('W') + adv('i'))).abs() < 0.1, "{w}");
        // Letter spacing counts between characters, not after the last.
        let spaced = Typesetter::width(Font::Sans, 100.0, 3.0, "Wi");
        assert!((spaced - w - 3.0).abs() < 1e-3);
    }

    #[test]
    fn centred_lines_have_equal_margins() {
        for (font, s) in [
            (Font::SerifBold, "Zoë Ørsted Ñandú"),
            (Font::SerifBold, "WWWWiiii"),
            (Font::Sans, "has passed the certification exam of"),
            (Font::SerifBold, "Αλέξανδρος Παπαδόπουλος"),
        ] {
            let x = centred_x(font, 30.0, 0.0, s);
            let right = PAGE_W - (x + Typesetter::width(font, 30.0, 0.0, s));
            assert!((x - right).abs() < 1e-3, "{s}: {x} vs {right}");
        }
        // And the content stream places the name where that says.
        let mut ts = Typesetter::default();
        let page = content(&sample("Ada Lovelace", "Course"), &mut ts);
        let x = centred_x(Font::SerifBold, 40.0, 0.0, "Ada Lovelace");
        assert!(page.contains(&format!("{x:.3} 330.000 Tm")), "{page}");
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let pdf = render(&sample("Ada Lovelace", "Course"));
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        // Catalog, pages, page, content, info, and six objects for each of 3 fonts.
        assert_eq!(objects(&pdf).len(), 5 + 3 * 6);
    }

    #[test]
    fn fonts_are_embedded_subsets_with_their_widths() {
        let pdf = render(&sample("Ada Lovelace", "Performance Engineering"));
        let objs = objects(&pdf);
        let mut fonts = 0;
        for (i, obj) in objs.iter().enumerate() {
            let d = dict(obj);
            if !d.contains("/Type /FontDescriptor") {
                continue;
            }
            fonts += 1;
            let file_ref: usize = d
                .split("/FontFile2 ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .expect("FontFile2");
            assert_eq!(file_ref, i + 2);
            let file = inflate(objs[file_ref - 1]);
            assert!(dict(objs[file_ref - 1]).contains(&format!("/Length1 {}", file.len())));
            // A real TrueType font, cut down to the glyphs used.
            let face = ttf_parser::Face::parse(&file, 0).expect("subset parses");
            assert!(face.number_of_glyphs() < 100, "{}", face.number_of_glyphs());
            assert!(file.len() < 40_000, "{}", file.len());
            // Every glyph the CIDToGIDMap names exists in the subset.
            let map = inflate(objs[file_ref + 1]);
            for pair in map.chunks(2) {
                assert!(u16::from_be_bytes([pair[0], pair[1]]) < face.number_of_glyphs());
            }
        }
        assert_eq!(fonts, 3);
        assert!(
            pdf.len() < 60_000,
            "a certificate stays small: {}",
            pdf.len()
        );
    }

    #[test]
    fn any_unicode_name_makes_a_valid_pdf() {
        let name = "Zoë Ørsted Ñandú 李 \u{1F600} Αλέξη Шевченко";
        let pdf = render(&sample(name, "Курс: производительность"));
        let objs = objects(&pdf);
        // Every character is in a ToUnicode map, the ones no font has too: 李 and
        // the emoji (as a surrogate pair) fall back to the box but still copy.
        let maps: String = objs
            .iter()
            .filter(|o| {
                let d = dict(o);
                d.contains("/Filter") && !d.contains("/Length1") && !d.contains("/Type")
            })
            .map(|o| String::from_utf8_lossy(&inflate(o)).into_owned())
            .collect();
        for c in name.chars() {
            let mut units = [0u16; 2];
            let hex: String = c
                .encode_utf16(&mut units)
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            assert!(maps.contains(&format!("<{hex}>")), "{c}");
        }
        assert_eq!(Typesetter::glyph(Font::SerifBold, '李').1, 0);
        // Ø, Ñ and ë are in DejaVu Serif Bold itself; Ш needs no fallback either.
        for c in ['Ø', 'Ñ', 'ë', 'Ш', 'λ'] {
            assert_eq!(
                Typesetter::glyph(Font::SerifBold, c).0,
                Font::SerifBold,
                "{c}"
            );
        }
    }

    #[test]
    fn a_script_serif_lacks_falls_back_to_sans() {
        let (f, g) = Typesetter::glyph(Font::SerifBold, 'א');
        assert_ne!(f, Font::SerifBold);
        assert_ne!(g, 0);
    }

    #[test]
    fn long_names_shrink_then_wrap_then_cut_inside_the_width() {
        let fit = Fit {
            font: Font::SerifBold,
            max: 40.0,
            one_line_min: 26.0,
            two_line_max: 27.0,
            min: 14.0,
            width: TEXT_W,
            lines: 2,
        };
        let within = |f: &Fitted| {
            f.lines
                .iter()
                .all(|l| Typesetter::width(Font::SerifBold, f.size, 0.0, l) <= TEXT_W + 1e-3)
        };
        let short = fit.apply("Ada Lovelace");
        assert_eq!((short.size, short.lines.len()), (40.0, 1));

        let longer = fit.apply("Maximilian Alexander Rodríguez");
        assert_eq!(longer.lines.len(), 1);
        assert!(longer.size < 40.0 && longer.size >= 26.0, "{longer:?}");
        assert!(within(&longer));

        let long = "Maria Fernanda de los Ángeles Santos Rodríguez y Fernández de Córdoba Mendoza";
        let wrapped = fit.apply(long);
        assert_eq!(wrapped.lines.len(), 2, "{wrapped:?}");
        assert_eq!(wrapped.lines.join(" "), long);
        assert!(within(&wrapped));

        // A hundred wide letters with no spaces: split anywhere, then cut.
        let wide = "W".repeat(100);
        let cut = fit.apply(&wide);
        assert!(within(&cut), "{cut:?}");
        assert_eq!(cut.size, 14.0);
        assert!(cut.lines.last().is_some_and(|l| l.ends_with('…')));

        // No spaces but it fits on two lines: split in the middle.
        let cjk = fit.apply(&"李".repeat(60));
        assert_eq!(cjk.lines.len(), 2);
        assert!(within(&cjk));
    }

    #[test]
    fn urls_wrap_after_slashes() {
        let fits = |s: &str| Typesetter::width(Font::Sans, 9.0, 0.0, s) <= 200.0;
        let url = "https://masterclass.example.org/certificates/0123456789abcdef0123456789abcdef";
        let lines = wrap_url(url, &fits);
        assert_eq!(lines.concat(), url);
        assert!(lines.iter().all(|l| fits(l)), "{lines:?}");
        assert!(lines[0].ends_with('/'));
        assert_eq!(
            lines.last().map(String::as_str),
            Some("0123456789abcdef0123456789abcdef")
        );
    }

    #[test]
    fn revoked_and_expired_show() {
        let mut c = sample("Ada Lovelace", "Course");
        c.revoked = Some("Exam voided");
        c.expired = true;
        let mut ts = Typesetter::default();
        let page = content(&c, &mut ts);
        let shown: String = ts.used[Font::SansBold.index()]
            .chars
            .iter()
            .map(|(c, _)| *c)
            .collect();
        for c in "REVOKED:Exam voided".chars() {
            assert!(shown.contains(c), "{c}");
        }
        assert!(page.contains(RED));
        // The watermark is drawn, not set: outlines with curves, no text of its own.
        assert!(page.contains("0.97 0.85 0.85 rg\n") && page.contains(" c\n"));
        assert!(objects(&render(&c)).len() > 5);
    }

    #[test]
    fn info_strings_are_literal_or_utf16() {
        assert_eq!(text_string("Aé李"), "<FEFF004100E9674E>");
        assert_eq!(text_string("Ada (King)\\"), "(Ada \\(King\\)\\\\)");
        let mut c = sample("Ada King", "Course");
        c.expired = true;
        c.revoked = Some("Exam voided");
        let pdf = String::from_utf8_lossy(&render(&c)).into_owned();
        for field in [
            "/Recipient (Ada King)",
            "/Validity (Expired on 2026-01-01)",
            "/Revoked (Exam voided)",
            "/CertificateID (0123456789abcdef0123456789abcdef)",
        ] {
            assert!(pdf.contains(field), "{field}");
        }
    }

    /// Writes sample certificates to look at:
    /// `cargo test -p app --features ssr --lib certs::pdf -- --ignored` then
    /// `pdftoppm -png -r 60` on the files it names.
    #[test]
    #[ignore = "writes files for a person to look at"]
    fn writes_samples() {
        let dir = std::env::temp_dir().join("masterclass-certificates");
        std::fs::create_dir_all(&dir).expect("dir");
        let long = "Maria Fernanda de los Ángeles Santos Rodríguez y Fernández de Córdoba Mendoza";
        let mut revoked = sample("Zoë Ørsted Ñandú 李", "Performance Engineering Masterclass");
        revoked.revoked = Some("Exam voided after review");
        let mut expired = sample(
            "Αλέξανδρος Παπαδόπουλος",
            "Performance Engineering Masterclass",
        );
        expired.expired = true;
        let course = "Performance Engineering Masterclass: load testing with k6, SLOs measured with Prometheus, and quality gates";
        let mut crowded = sample(long, course);
        crowded.expired = true;
        crowded.revoked = Some("The exam attempt was voided after a review found the answers had been shared in advance by another candidate");
        for (file, c) in [
            (
                "plain.pdf",
                sample("Ada Lovelace", "Performance Engineering Masterclass"),
            ),
            ("long.pdf", sample(long, course)),
            ("crowded.pdf", crowded),
            ("revoked.pdf", revoked),
            ("expired.pdf", expired),
        ] {
            let path = dir.join(file);
            std::fs::write(&path, render(&c)).expect("write");
            println!("{}", path.display());
        }
    }
}
