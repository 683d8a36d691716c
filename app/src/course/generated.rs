//! Narrated videos made by `masterclass content videos`.
//!
//! They live outside `content/` and git, under `<media dir>/<course>/generated/`, as
//! `<module>.webm` with `<module>.en.vtt` (captions, whose cues are also the transcript) and
//! `<module>.txt`. The import attaches one to a module that declares no `video:` of its own,
//! and only when both the video and valid captions are there, so a course without them shows
//! no player at all rather than a broken one.

use std::collections::BTreeMap;
use std::path::Path;

use super::{vtt, Video};

/// The folder, inside a course's media folder, that holds generated videos.
pub const DIR: &str = "generated";

/// A generated video found for a module, with the bytes that identify this version of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub video: Video,
    /// Changes whenever the video or its captions change (feeds the import's content hash).
    pub fingerprint: Vec<u8>,
}

/// Every complete generated video of `course_slug`, by module slug. Incomplete or unreadable
/// ones (a video without captions, captions that do not parse) are left out.
pub fn find(media_dir: &Path, course_slug: &str) -> BTreeMap<String, Found> {
    let dir = media_dir.join(course_slug).join(DIR);
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(slug) = name.to_str().and_then(|n| n.strip_suffix(".webm")) else {
            continue;
        };
        if slug.is_empty()
            || !slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.len() == 0 {
            continue;
        }
        let captions = format!("{slug}.en.vtt");
        let Ok(text) = std::fs::read_to_string(dir.join(&captions)) else {
            continue;
        };
        let Ok(cues) = vtt::parse(&text) else {
            continue;
        };
        if cues.is_empty() {
            continue;
        }
        let mut fingerprint = format!("{DIR}/{slug}.webm:{}\n", meta.len()).into_bytes();
        fingerprint.extend_from_slice(text.as_bytes());
        found.insert(
            slug.to_string(),
            Found {
                video: Video::File {
                    src: format!("/media/{course_slug}/{DIR}/{slug}.webm"),
                    captions: Some(format!("/media/{course_slug}/{DIR}/{captions}")),
                    language: "en".into(),
                    transcript: cues,
                },
                fingerprint,
            },
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_videos_are_found() {
        let media = std::env::temp_dir().join(format!(
            "masterclass-generated-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let dir = media.join("c").join(DIR);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello.\n";
        std::fs::write(dir.join("good.webm"), b"webm").expect("write");
        std::fs::write(dir.join("good.en.vtt"), vtt).expect("write");
        std::fs::write(dir.join("no-captions.webm"), b"webm").expect("write");
        std::fs::write(dir.join("bad-captions.webm"), b"webm").expect("write");
        std::fs::write(dir.join("bad-captions.en.vtt"), "not vtt").expect("write");
        std::fs::write(dir.join("empty.webm"), b"").expect("write");
        std::fs::write(dir.join("empty.en.vtt"), vtt).expect("write");
        std::fs::write(dir.join("Bad Name.webm"), b"webm").expect("write");

        let found = find(&media, "c");
        assert_eq!(found.keys().collect::<Vec<_>>(), vec!["good"]);
        let Video::File {
            src,
            captions,
            transcript,
            ..
        } = &found["good"].video
        else {
            panic!("a file video")
        };
        assert_eq!(src, "/media/c/generated/good.webm");
        assert_eq!(captions.as_deref(), Some("/media/c/generated/good.en.vtt"));
        assert_eq!(transcript.len(), 1);
        assert!(find(&media, "other").is_empty());

        // A changed caption file changes the fingerprint the import hashes.
        let before = found["good"].fingerprint.clone();
        std::fs::write(dir.join("good.en.vtt"), vtt.replace("Hello", "Hi")).expect("write");
        assert_ne!(find(&media, "c")["good"].fingerprint, before);
        std::fs::remove_dir_all(&media).expect("clean up");
    }
}
