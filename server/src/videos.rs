//! `masterclass content videos`: a short narrated video per module, made from the module's
//! key takeaways.
//!
//! One [`Script`] drives everything: the slides (SVG rendered to PNG by `rsvg-convert`), the
//! speech (`espeak-ng`, one WAV per caption cue), the WebVTT captions and the transcript. The
//! cue timings are the measured lengths of the spoken pieces, counted in audio samples, and the
//! narration is those same pieces joined with fixed silences — so captions, transcript and
//! audio cannot disagree. `ffmpeg` assembles slides and narration into a WebM.
//!
//! The files go to `<data dir>/media/<course>/generated/` — never into `content/` or git, since
//! they are rebuilt from their scripts — and the content import attaches `<module>.webm` with
//! its `<module>.en.vtt` to a module that declares no `video:` of its own
//! ([`app::course::generated`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The tools the command needs, with the Debian package that provides each.
pub const TOOLS: [(&str, &str); 3] = [
    ("espeak-ng", "espeak-ng"),
    ("ffmpeg", "ffmpeg"),
    ("rsvg-convert", "librsvg2-bin"),
];

/// The voice and speed of the narration; part of every script, so changing them regenerates.
const VOICE: &str = "en-us";
const WORDS_PER_MINUTE: u32 = 160;
/// Silences, in seconds: before the first cue, between the cues of one slide, between slides.
const LEAD_IN: f64 = 0.3;
const GAP_IN_SLIDE: f64 = 0.25;
const GAP_BETWEEN_SLIDES: f64 = 0.7;
/// Frames per second of the slide show: slides change only between cues, so a few suffice.
pub const FPS: u32 = 5;
/// A caption longer than this is split at a comma near its middle.
const MAX_CUE_CHARS: usize = 90;

/// One slide: what it shows, and the pieces spoken (and captioned) while it is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Slide {
    pub heading: String,
    pub text: String,
    pub cues: Vec<String>,
}

/// The script of one module's video.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub course_title: String,
    pub slug: String,
    pub title: String,
    pub slides: Vec<Slide>,
}

/// What a module file says that matters here.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSource {
    pub slug: String,
    pub title: String,
    /// The module declares its own `video:` in front matter.
    pub has_video: bool,
    pub takeaways: Vec<String>,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        v[1..v.len() - 1].replace("\\\"", "\"")
    } else {
        v.to_string()
    }
}

/// Reads a module's title, slug, declared video and key takeaways.
pub fn read_module(file_stem: &str, text: &str) -> Result<ModuleSource, String> {
    let rest = text
        .strip_prefix("---\n")
        .ok_or("no front matter (the file must start with ---)")?;
    let (front, body) = rest
        .split_once("\n---\n")
        .ok_or("the front matter is not closed with ---")?;
    let field = |name: &str| {
        front
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .map(unquote)
    };
    let title = field("title").filter(|t| !t.is_empty()).ok_or("no title")?;
    let slug = field("slug").filter(|s| !s.is_empty()).unwrap_or_else(|| {
        file_stem
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-')
            .to_string()
    });
    let has_video = front.lines().any(|l| l.starts_with("video:"));
    let mut takeaways: Vec<String> = Vec::new();
    let mut inside = false;
    for line in body.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Key takeaways";
            continue;
        }
        if !inside || line.trim().is_empty() {
            continue;
        }
        if let Some(item) = line.strip_prefix("- ") {
            takeaways.push(item.trim().to_string());
        } else if line.starts_with(' ') {
            if let Some(last) = takeaways.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        }
    }
    let takeaways: Vec<String> = takeaways.iter().map(|t| plain(t)).collect();
    if takeaways.is_empty() {
        return Err("no \"## Key takeaways\" list to narrate".into());
    }
    Ok(ModuleSource {
        slug,
        title: plain(&title),
        has_video,
        takeaways,
    })
}

/// Markdown inline markup removed: code ticks, emphasis, links (their text stays).
pub fn plain(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let chars: Vec<char> = md.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '`' | '*' => {}
            '[' => {
                // [text](target) keeps the text.
                let close = chars[i..].iter().position(|c| *c == ']').map(|p| p + i);
                if let Some(c) = close.filter(|c| chars.get(c + 1) == Some(&'(')) {
                    if let Some(end) = chars[c..].iter().position(|ch| *ch == ')').map(|p| p + c) {
                        out.extend(&chars[i + 1..c]);
                        i = end + 1;
                        continue;
                    }
                }
                out.push('[');
            }
            c => out.push(c),
        }
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits a takeaway into caption cues: at sentence ends, semicolons and colons, and long
/// pieces again at the comma nearest their middle.
pub fn cues_of(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        current.push(*c);
        let next_is_space = chars.get(i + 1).is_some_and(|n| *n == ' ');
        if matches!(c, '.' | ';' | ':' | '?' | '!') && next_is_space {
            pieces.push(current.trim().to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        pieces.push(current.trim().to_string());
    }
    let mut out = Vec::new();
    for p in pieces {
        split_long(&p, &mut out);
    }
    out
}

fn split_long(piece: &str, out: &mut Vec<String>) {
    if piece.chars().count() <= MAX_CUE_CHARS {
        out.push(piece.to_string());
        return;
    }
    let middle = piece.len() / 2;
    let best = piece
        .match_indices(", ")
        .map(|(i, _)| i)
        .min_by_key(|i| i.abs_diff(middle));
    match best {
        Some(i) => {
            split_long(piece[..=i].trim(), out);
            split_long(piece[i + 1..].trim(), out);
        }
        None => out.push(piece.to_string()),
    }
}

impl Script {
    /// The script of a module's video: a title slide, one slide per key takeaway, a closing slide.
    pub fn new(course_title: &str, m: &ModuleSource) -> Script {
        let n = m.takeaways.len();
        let mut slides = vec![Slide {
            heading: m.title.clone(),
            text: format!("{course_title}: the module's key takeaways"),
            cues: vec![
                format!("{}.", m.title.trim_end_matches('.')),
                format!("The key takeaways of this module, in {n} points."),
            ],
        }];
        for (i, t) in m.takeaways.iter().enumerate() {
            slides.push(Slide {
                heading: format!("Key takeaway {} of {n}", i + 1),
                text: t.clone(),
                cues: cues_of(t),
            });
        }
        slides.push(Slide {
            heading: "Now read the module".into(),
            text: "The worked examples, diagrams and the self-check are in the text.".into(),
            cues: vec![
                "The worked examples, the diagrams and the self-check are in the module's text."
                    .into(),
            ],
        });
        Script {
            course_title: course_title.to_string(),
            slug: m.slug.clone(),
            title: m.title.clone(),
            slides,
        }
    }

    /// Everything said, cue by cue, in order: what the captions and the transcript show.
    pub fn said(&self) -> Vec<&str> {
        self.slides
            .iter()
            .flat_map(|s| &s.cues)
            .map(String::as_str)
            .collect()
    }

    /// The script as stored next to the video: when it is unchanged, so is the video.
    pub fn fingerprint(&self) -> String {
        let mut s = format!(
            "voice {VOICE} {WORDS_PER_MINUTE} wpm; gaps {LEAD_IN} {GAP_IN_SLIDE} {GAP_BETWEEN_SLIDES}\n{}\n{}\n",
            self.course_title, self.title
        );
        for sl in &self.slides {
            let _ = writeln!(s, "\n# {}\n{}", sl.heading, sl.text);
            for c in &sl.cues {
                let _ = writeln!(s, "> {c}");
            }
        }
        s
    }
}

/// How a caption is said: the symbols the course's text uses, read as words.
pub fn speakable(cue: &str) -> String {
    let mut s = cue.to_string();
    for (from, to) in [
        ("<=", " at most "),
        (">=", " at least "),
        ("×", " times "),
        ("÷", " divided by "),
        ("≈", " about "),
        ("−", " minus "),
        ("→", " to "),
        ("<", " less than "),
        (">", " more than "),
        ("=", " equals "),
        ("%", " percent"),
        ("p(", "p "),
    ] {
        s = s.replace(from, to);
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One caption cue placed on the narration's timeline, in audio samples.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedCue {
    pub slide: usize,
    pub text: String,
    pub start: u64,
    pub end: u64,
}

/// The narration's layout: where each cue and each slide sits, in samples at `rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub rate: u32,
    pub cues: Vec<TimedCue>,
    /// Start and end of each slide; they tile the whole narration.
    pub slides: Vec<(u64, u64)>,
    pub total: u64,
}

fn samples(secs: f64, rate: u32) -> u64 {
    (secs * f64::from(rate)).round() as u64
}

/// Lays the script's cues end to end with the fixed silences, each cue as long as its audio
/// (`lengths[i]` samples for the i-th cue of the script, in order).
pub fn timeline(script: &Script, lengths: &[u64], rate: u32) -> Result<Timeline, String> {
    let count: usize = script.slides.iter().map(|s| s.cues.len()).sum();
    if lengths.len() != count {
        return Err(format!("{} audio pieces for {count} cues", lengths.len()));
    }
    let mut at = samples(LEAD_IN, rate);
    let mut cues = Vec::new();
    let mut slides = Vec::new();
    let mut next = lengths.iter();
    let mut slide_start = 0;
    for (si, slide) in script.slides.iter().enumerate() {
        if si > 0 {
            let gap = samples(GAP_BETWEEN_SLIDES, rate);
            // The slide changes halfway through the pause between slides.
            slides.push((slide_start, at + gap / 2));
            slide_start = at + gap / 2;
            at += gap;
        }
        for (ci, text) in slide.cues.iter().enumerate() {
            if ci > 0 {
                at += samples(GAP_IN_SLIDE, rate);
            }
            let len = *next.next().ok_or("too few audio pieces")?;
            if len == 0 {
                return Err(format!("the audio of {text:?} is empty"));
            }
            cues.push(TimedCue {
                slide: si,
                text: text.clone(),
                start: at,
                end: at + len,
            });
            at += len;
        }
    }
    slides.push((slide_start, at));
    Ok(Timeline {
        rate,
        cues,
        slides,
        total: at,
    })
}

fn ms(samples: u64, rate: u32) -> u64 {
    (samples * 1000 + u64::from(rate) / 2) / u64::from(rate)
}

fn vtt_time(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The WebVTT captions of a timeline.
pub fn vtt(script: &Script, t: &Timeline) -> String {
    let mut out = format!(
        "WEBVTT\n\nNOTE\n{} — {}: narrated key takeaways, generated by `masterclass content videos`.\n",
        script.course_title, script.title
    );
    for (i, c) in t.cues.iter().enumerate() {
        let _ = write!(
            out,
            "\n{}\n{} --> {}\n{}\n",
            i + 1,
            vtt_time(ms(c.start, t.rate)),
            vtt_time(ms(c.end, t.rate)),
            c.text
        );
    }
    out
}

/// The transcript of a timeline: each slide's heading with its time, then what is said.
pub fn transcript(script: &Script, t: &Timeline) -> String {
    let mut out = format!("{}\n{}\n", script.title, script.course_title);
    for (si, slide) in script.slides.iter().enumerate() {
        let start = ms(t.slides[si].0, t.rate) / 1000;
        let said: Vec<&str> = t
            .cues
            .iter()
            .filter(|c| c.slide == si)
            .map(|c| c.text.as_str())
            .collect();
        let _ = write!(
            out,
            "\n[{}:{:02}] {}\n{}\n",
            start / 60,
            start % 60,
            slide.heading,
            said.join(" ")
        );
    }
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// One slide as a 1280×720 SVG.
pub fn slide_svg(script: &Script, index: usize) -> String {
    let slide = &script.slides[index];
    let (size, width) = if slide.text.chars().count() > 230 {
        (34, 52)
    } else {
        (40, 44)
    };
    let mut body = String::new();
    for (i, line) in wrap(&slide.text, width).iter().enumerate() {
        let _ = write!(
            body,
            r#"<text x="80" y="{}" font-size="{size}">{}</text>"#,
            250 + i * (size * 3 / 2),
            xml(line)
        );
    }
    let heading = wrap(&slide.heading, 42)
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                r##"<text x="80" y="{}" font-size="46" font-weight="bold" fill="#ffffff">{}</text>"##,
                95 + i * 58,
                xml(l)
            )
        })
        .collect::<String>();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="720" viewBox="0 0 1280 720" font-family="DejaVu Sans, sans-serif">
<rect width="1280" height="720" fill="#f6f5ef"/>
<rect width="1280" height="{band}" fill="#1d3557"/>
{heading}
<g fill="#1b1b1b">{body}</g>
<rect y="660" width="1280" height="60" fill="#e4e1d4"/>
<text x="80" y="698" font-size="22" fill="#333333">{footer}</text>
<text x="1200" y="698" font-size="22" fill="#333333" text-anchor="end">{n} / {total}</text>
</svg>
"##,
        band = if slide.heading.chars().count() > 42 {
            200
        } else {
            150
        },
        footer = xml(&format!("{} · {}", script.course_title, script.title)),
        n = index + 1,
        total = script.slides.len(),
    )
}

/// A mono 16-bit PCM WAV file's samples and rate.
pub fn read_wav(bytes: &[u8]) -> Result<(Vec<i16>, u32), String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a WAV file".into());
    }
    let mut i = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let size =
            u32::from_le_bytes([bytes[i + 4], bytes[i + 5], bytes[i + 6], bytes[i + 7]]) as usize;
        let body = &bytes[i + 8..];
        if id == b"fmt " && body.len() >= 16 {
            format = Some((
                u16::from_le_bytes([body[0], body[1]]),
                u16::from_le_bytes([body[2], body[3]]),
                u32::from_le_bytes([body[4], body[5], body[6], body[7]]),
                u16::from_le_bytes([body[14], body[15]]),
            ));
        } else if id == b"data" {
            let (fmt, channels, rate, bits) = format.ok_or("WAV data before its format")?;
            if (fmt, channels, bits) != (1, 1, 16) {
                return Err(format!(
                    "expected mono 16-bit PCM, got format {fmt}, {channels} channels, {bits} bits"
                ));
            }
            // A streamed WAV may carry a placeholder size; the bytes present are the truth.
            let len = size.min(body.len()) & !1;
            let samples = body[..len]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return Ok((samples, rate));
        }
        i += 8 + size + (size & 1);
    }
    Err("a WAV file without a data chunk".into())
}

/// A mono 16-bit PCM WAV file.
pub fn write_wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// The tools that are not installed, by name.
pub fn missing_tools() -> Vec<&'static str> {
    TOOLS
        .iter()
        .filter(|(tool, _)| {
            let flag = if *tool == "ffmpeg" {
                "-version"
            } else {
                "--version"
            };
            !Command::new(tool)
                .arg(flag)
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|(tool, _)| *tool)
        .collect()
}

/// The one line printed when the tools are missing.
pub fn skip_line(missing: &[&str]) -> String {
    let packages: Vec<&str> = TOOLS
        .iter()
        .filter(|(t, _)| missing.contains(t))
        .map(|(_, p)| *p)
        .collect();
    format!(
        "skipped: no videos generated, {} not installed (on Debian: apt-get install {}); the course works without them",
        missing.join(", "),
        packages.join(" ")
    )
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Err(format!(
            "{} failed ({}): {last}",
            shown.split_whitespace().next().unwrap_or("a tool"),
            out.status
        ))
    }
}

/// What became of one module.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Made {
        seconds: f64,
        cues: usize,
        took: std::time::Duration,
    },
    UpToDate,
}

/// The file names of one module's video in the generated folder.
pub fn files(dir: &Path, slug: &str) -> [PathBuf; 4] {
    [
        dir.join(format!("{slug}.webm")),
        dir.join(format!("{slug}.en.vtt")),
        dir.join(format!("{slug}.txt")),
        dir.join(format!("{slug}.script")),
    ]
}

/// Makes one module's video in `out_dir` (skipped when its script is unchanged, unless `force`).
/// Works in a scratch folder and moves the finished files in, captions last, so an
/// interrupted run never leaves a video the import would attach with the wrong captions.
pub fn make(script: &Script, out_dir: &Path, force: bool) -> Result<Outcome, String> {
    let started = Instant::now();
    let [webm, captions, text, script_file] = files(out_dir, &script.slug);
    let fingerprint = script.fingerprint();
    if !force
        && webm.is_file()
        && captions.is_file()
        && std::fs::read_to_string(&script_file).is_ok_and(|s| s == fingerprint)
    {
        return Ok(Outcome::UpToDate);
    }
    let work = out_dir.join(format!(".work-{}", script.slug));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = make_in(script, &work).and_then(|(t, video)| {
        let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
        // Unattach the old video first: captions are what make the import pick one up.
        if captions.exists() {
            std::fs::remove_file(&captions).map_err(|e| io(&captions, e))?;
        }
        std::fs::rename(&video, &webm).map_err(|e| io(&webm, e))?;
        std::fs::write(&text, transcript(script, &t)).map_err(|e| io(&text, e))?;
        std::fs::write(&script_file, &fingerprint).map_err(|e| io(&script_file, e))?;
        let tmp = work.join("captions.vtt");
        std::fs::write(&tmp, vtt(script, &t)).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &captions).map_err(|e| io(&captions, e))?;
        Ok(Outcome::Made {
            seconds: t.total as f64 / f64::from(t.rate),
            cues: t.cues.len(),
            took: started.elapsed(),
        })
    });
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn make_in(script: &Script, work: &Path) -> Result<(Timeline, PathBuf), String> {
    // Speech: one WAV per cue, so every cue's length is measured, not guessed.
    let mut pieces: Vec<Vec<i16>> = Vec::new();
    let mut rate = 0;
    for (i, cue) in script.said().into_iter().enumerate() {
        let said = work.join(format!("cue-{i:03}.txt"));
        let wav = work.join(format!("cue-{i:03}.wav"));
        std::fs::write(&said, speakable(cue)).map_err(|e| format!("{}: {e}", said.display()))?;
        run(Command::new("espeak-ng")
            .args(["-v", VOICE, "-s", &WORDS_PER_MINUTE.to_string(), "-w"])
            .arg(&wav)
            .arg("-f")
            .arg(&said))?;
        let bytes = std::fs::read(&wav).map_err(|e| format!("{}: {e}", wav.display()))?;
        let (samples, r) = read_wav(&bytes).map_err(|e| format!("{}: {e}", wav.display()))?;
        if rate != 0 && r != rate {
            return Err(format!(
                "espeak-ng changed its sample rate from {rate} to {r}"
            ));
        }
        rate = r;
        pieces.push(samples);
    }
    let lengths: Vec<u64> = pieces.iter().map(|p| p.len() as u64).collect();
    let t = timeline(script, &lengths, rate)?;
    let mut narration = vec![0i16; t.total as usize];
    for (cue, piece) in t.cues.iter().zip(&pieces) {
        narration[cue.start as usize..cue.end as usize].copy_from_slice(piece);
    }
    let wav = work.join("narration.wav");
    std::fs::write(&wav, write_wav(&narration, rate))
        .map_err(|e| format!("{}: {e}", wav.display()))?;

    // Slides, shown for exactly their span of the narration.
    let mut list = String::from("ffconcat version 1.0\n");
    for (i, (start, end)) in t.slides.iter().enumerate() {
        let svg = work.join(format!("slide-{i:03}.svg"));
        let png = work.join(format!("slide-{i:03}.png"));
        std::fs::write(&svg, slide_svg(script, i))
            .map_err(|e| format!("{}: {e}", svg.display()))?;
        run(Command::new("rsvg-convert")
            .args(["-w", "1280", "-h", "720", "-o"])
            .arg(&png)
            .arg(&svg))?;
        let _ = writeln!(
            list,
            "file 'slide-{i:03}.png'\nduration {:.6}",
            (end - start) as f64 / f64::from(rate)
        );
    }
    // The concat demuxer needs the last picture once more to honour its duration.
    let _ = writeln!(list, "file 'slide-{:03}.png'", t.slides.len() - 1);
    let list_file = work.join("slides.ffconcat");
    std::fs::write(&list_file, list).map_err(|e| format!("{}: {e}", list_file.display()))?;
    let video = work.join("video.webm");
    run(Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "concat", "-safe", "0", "-i"])
        .arg(&list_file)
        .arg("-i")
        .arg(&wav)
        .args([
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-vf",
            &format!("fps={FPS},format=yuv420p"),
        ])
        .args([
            "-c:v",
            "libvpx-vp9",
            "-b:v",
            "0",
            "-crf",
            "40",
            "-deadline",
            "good",
        ])
        .args([
            "-cpu-used",
            "5",
            "-row-mt",
            "1",
            "-c:a",
            "libopus",
            "-b:a",
            "48k",
        ])
        .args(["-t", &format!("{:.3}", t.total as f64 / f64::from(rate))])
        .arg(&video))?;
    Ok((t, video))
}

fn course_title(course_yaml: &str) -> Option<String> {
    course_yaml
        .lines()
        .find_map(|l| l.strip_prefix("title:"))
        .map(unquote)
        .filter(|t| !t.is_empty())
}

/// `masterclass content videos`: makes the videos of every course under `content_dir` (or of
/// one module) into `media_dir`. Returns the exit code: 0 when everything was made, was up to
/// date or was skipped for want of tools, 1 when a module failed.
pub fn command(
    content_dir: &Path,
    media_dir: &Path,
    only: Option<&str>,
    force: bool,
) -> anyhow::Result<u8> {
    if !content_dir.is_dir() {
        anyhow::bail!("content folder {} does not exist", content_dir.display());
    }
    let missing = missing_tools();
    if !missing.is_empty() {
        println!("{}", skip_line(&missing));
        return Ok(0);
    }
    let mut courses: Vec<PathBuf> = std::fs::read_dir(content_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("course.yaml").is_file())
        .collect();
    courses.sort();
    let (mut made, mut failed, mut matched) = (0, 0, 0);
    for course in &courses {
        let slug = course
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let title = course_title(&std::fs::read_to_string(course.join("course.yaml"))?)
            .unwrap_or_else(|| slug.clone());
        let out_dir = media_dir.join(&slug).join(app::course::generated::DIR);
        let mut modules: Vec<PathBuf> = std::fs::read_dir(course.join("modules"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        modules.sort();
        for path in modules {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let shown = path
                .strip_prefix(content_dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            let m = match read_module(stem, &std::fs::read_to_string(&path)?) {
                Ok(m) => m,
                Err(e) => {
                    if only.is_none_or(|o| o == stem) {
                        eprintln!("{shown}: {e}");
                        failed += 1;
                    }
                    continue;
                }
            };
            if only.is_some_and(|o| o != m.slug) {
                continue;
            }
            matched += 1;
            if m.has_video {
                println!(
                    "{slug}/{}: skipped, the module declares its own video",
                    m.slug
                );
                continue;
            }
            std::fs::create_dir_all(&out_dir)?;
            match make(&Script::new(&title, &m), &out_dir, force) {
                Ok(Outcome::UpToDate) => println!("{slug}/{}: up to date", m.slug),
                Ok(Outcome::Made {
                    seconds,
                    cues,
                    took,
                }) => {
                    made += 1;
                    println!(
                        "{slug}/{}: {seconds:.1} s of narration, {cues} captions, made in {:.1} s -> {}",
                        m.slug,
                        took.as_secs_f64(),
                        out_dir.join(format!("{}.webm", m.slug)).display()
                    );
                }
                Err(e) => {
                    eprintln!("{slug}/{}: {e}", m.slug);
                    failed += 1;
                }
            }
        }
    }
    if let Some(o) = only.filter(|_| matched == 0) {
        anyhow::bail!(
            "no module with the slug {o:?} under {}",
            content_dir.display()
        );
    }
    if made > 0 {
        println!(
            "{made} videos made; `masterclass content import` (or the next start of the server) attaches them"
        );
    }
    Ok(u8::from(failed > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = "---\ntitle: \"Queues: a test\"\nsection: s\norder: 1\nminutes: 5\n---\n\nBody text.\n\n## Key takeaways\n\n- Little's law, `L = λ × W`, links in-flight requests, throughput and latency for any boundary you draw around a system, as long as all three are measured for it.\n- Keep [label values](/x) few; **bound** them.\n\n## Self-check\n\n- not a takeaway\n";

    #[test]
    fn the_module_is_read_into_a_script() {
        let m = read_module("04-queues", MODULE).expect("module");
        assert_eq!(m.slug, "queues");
        assert_eq!(m.title, "Queues: a test");
        assert!(!m.has_video);
        assert_eq!(m.takeaways.len(), 2, "{:?}", m.takeaways);
        assert_eq!(m.takeaways[1], "Keep label values few; bound them.");
        let s = Script::new("Course", &m);
        assert_eq!(s.slides.len(), 4, "title, two takeaways, closing");
        // The long first takeaway is split into cues no longer than a caption line pair.
        assert!(s.slides[1].cues.len() >= 2, "{:?}", s.slides[1].cues);
        assert!(s
            .slides
            .iter()
            .flat_map(|s| &s.cues)
            .all(|c| c.chars().count() <= MAX_CUE_CHARS));
        assert_eq!(
            s.slides[2].cues,
            vec!["Keep label values few;", "bound them."]
        );
        assert!(read_module("x", "no front matter").is_err());
        assert!(read_module("x", "---\ntitle: T\n---\nNo takeaways.\n").is_err());
    }

    #[test]
    fn captions_and_transcript_come_from_the_same_script_and_the_audio_lengths() {
        let m = read_module("04-queues", MODULE).expect("module");
        let s = Script::new("Course", &m);
        let rate = 22_050;
        let n: usize = s.slides.iter().map(|s| s.cues.len()).sum();
        // Each cue's audio a different length, as speech would be.
        let lengths: Vec<u64> = (0..n as u64).map(|i| 20_000 + i * 3_001).collect();
        let t = timeline(&s, &lengths, rate).expect("timeline");

        // The captions parse, and say exactly the script's cues, in order.
        let cues = app::course::vtt::parse(&vtt(&s, &t)).expect("valid WebVTT");
        let said = s.said();
        assert_eq!(
            cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
            said
        );
        // Each cue lasts as long as its audio, and they follow each other with the set pauses.
        for (i, c) in t.cues.iter().enumerate() {
            assert_eq!(c.end - c.start, lengths[i]);
            assert_eq!(cues[i].start_ms as u64, ms(c.start, rate));
        }
        assert_eq!(t.cues[0].start, samples(LEAD_IN, rate));
        assert_eq!(
            t.cues[1].start,
            t.cues[0].end + samples(GAP_IN_SLIDE, rate),
            "same slide"
        );
        assert_eq!(
            t.cues[2].start,
            t.cues[1].end + samples(GAP_BETWEEN_SLIDES, rate),
            "a new slide"
        );
        assert_eq!(
            t.total,
            t.cues.last().expect("cue").end,
            "the narration ends with the last cue"
        );
        // Slides tile the narration, and each slide's span holds its own cues.
        assert_eq!(t.slides.first().map(|s| s.0), Some(0));
        assert_eq!(t.slides.last().map(|s| s.1), Some(t.total));
        for w in t.slides.windows(2) {
            assert_eq!(w[0].1, w[1].0);
        }
        for c in &t.cues {
            let (a, b) = t.slides[c.slide];
            assert!(a <= c.start && c.end <= b, "{c:?} in {a}..{b}");
        }
        // The transcript is the same words, slide by slide.
        let tr = transcript(&s, &t);
        let mut rest = tr.as_str();
        for c in &said {
            let at = rest
                .find(c)
                .unwrap_or_else(|| panic!("{c:?} missing or out of order in\n{tr}"));
            rest = &rest[at + c.len()..];
        }
        assert!(
            timeline(&s, &lengths[1..], rate).is_err(),
            "one length per cue"
        );
    }

    #[test]
    fn wav_round_trip_and_speech_words() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 7 % 300) as i16 - 150).collect();
        let (back, rate) = read_wav(&write_wav(&samples, 22_050)).expect("wav");
        assert_eq!((back, rate), (samples, 22_050));
        assert!(read_wav(b"RIFF....WAVEjunk").is_err());
        assert_eq!(
            speakable("rate<0.005 and 14.4 × 0.1%"),
            "rate less than 0.005 and 14.4 times 0.1 percent"
        );
        assert!(slide_svg(
            &Script::new("C & D", &read_module("q", MODULE).expect("m")),
            1
        )
        .contains("C &amp; D"));
        assert!(skip_line(&["ffmpeg"]).contains("apt-get install ffmpeg"));
    }
}
