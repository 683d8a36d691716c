//! Large prebuilt HTML sent by reference, not copied through the renderer.
//!
//! A module's body (video, transcript, contents, prose) is rendered once, when
//! the catalog loads, and is most of its page's bytes. Leptos builds a page in
//! strings that it copies several times on the way out (the stream's chunks,
//! buffer growth, joining them, placing the `<title>`), so every copy of the
//! page carried the body again. Instead the page renders a short placeholder,
//! and the response sends the shared bytes in its place: the page's own parts
//! still go through Leptos, the body goes from the catalog to the socket.

use std::sync::Arc;

/// What a view renders for `html`. On the server, inside a page request (see
/// [`ssr::SharedHtml`]), it is a placeholder that the response replaces with
/// `html` itself; anywhere else it is `html`.
pub fn by_reference(html: Arc<str>) -> Arc<str> {
    #[cfg(feature = "ssr")]
    {
        let shared = leptos::prelude::with_context::<axum::http::request::Parts, _>(|p| {
            p.extensions.get::<ssr::SharedHtml>().cloned()
        })
        .flatten();
        if let Some(shared) = shared {
            return shared.place(html);
        }
    }
    html
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::{Arc, LazyLock, Mutex, PoisonError};

    use axum::body::{Body, Bytes};
    use axum::response::Response;
    use futures_util::StreamExt;

    /// Placeholders carry a per-process random prefix, so no text a page
    /// shows can be mistaken for one.
    static PREFIX: LazyLock<String> =
        LazyLock::new(|| format!("<!--shared-html-{:016x}-", rand::random::<u64>()));
    const SUFFIX: &str = "-->";
    static FINDER: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(PREFIX.as_bytes()).into_owned());

    /// The fragments one page response sends by reference, in the order the
    /// page placed them. The page middleware puts one in the request's
    /// extensions and hands the response to [`SharedHtml::send`].
    #[derive(Clone, Default)]
    pub struct SharedHtml(Arc<Mutex<Vec<Arc<str>>>>);

    impl SharedHtml {
        /// Keeps `html` for the response and returns its placeholder.
        pub fn place(&self, html: Arc<str>) -> Arc<str> {
            let mut parts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            parts.push(html);
            format!("{}{}{SUFFIX}", *PREFIX, parts.len() - 1).into()
        }

        /// The response with each placeholder replaced by its fragment. A page
        /// that placed nothing goes out untouched.
        pub fn send(self, res: Response) -> Response {
            let parts = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
            if parts.is_empty() {
                return res;
            }
            let parts: Arc<[Arc<str>]> = parts.into();
            res.map(|body| {
                Body::from_stream(body.into_data_stream().flat_map(move |chunk| {
                    let pieces = match chunk {
                        Ok(chunk) => splice(chunk, &parts).into_iter().map(Ok).collect(),
                        Err(e) => vec![Err(e)],
                    };
                    futures_util::stream::iter(pieces)
                }))
            })
        }
    }

    /// A fragment as bytes that share its allocation.
    struct Fragment(Arc<str>);

    impl AsRef<[u8]> for Fragment {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }

    /// `chunk` cut at its placeholders, with the fragments between the cuts.
    /// The cuts are views of `chunk`; nothing is copied.
    fn splice(chunk: Bytes, parts: &[Arc<str>]) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut done = 0;
        let mut from = 0;
        while let Some(at) = FINDER.find(&chunk[from..]).map(|i| from + i) {
            let digits = at + PREFIX.len();
            let end = chunk[digits..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(chunk.len(), |n| digits + n);
            let part = std::str::from_utf8(&chunk[digits..end])
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| parts.get(n));
            match part {
                Some(part) if chunk[end..].starts_with(SUFFIX.as_bytes()) => {
                    out.push(chunk.slice(done..at));
                    out.push(Bytes::from_owner(Fragment(part.clone())));
                    done = end + SUFFIX.len();
                    from = done;
                }
                _ => from = digits,
            }
        }
        out.push(chunk.slice(done..));
        out.retain(|b| !b.is_empty());
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn joined(pieces: Vec<Bytes>) -> String {
            String::from_utf8(pieces.concat()).unwrap()
        }

        #[test]
        fn placeholders_become_their_fragments() {
            let shared = SharedHtml::default();
            let a = shared.place("<p>first</p>".into());
            let b = shared.place("<p>second</p>".into());
            let parts = shared.0.lock().unwrap().clone();
            let page = format!("<main>{a}<hr>{b}</main>");
            assert_eq!(
                joined(splice(Bytes::from(page), &parts)),
                "<main><p>first</p><hr><p>second</p></main>"
            );
        }

        #[test]
        fn fragments_are_sent_without_copying() {
            let shared = SharedHtml::default();
            let body: Arc<str> = "<p>a large body</p>".into();
            let mark = shared.place(body.clone());
            let parts = shared.0.lock().unwrap().clone();
            let pieces = splice(Bytes::from(format!("<div>{mark}</div>")), &parts);
            assert_eq!(pieces.len(), 3);
            assert_eq!(pieces[1].as_ptr(), body.as_ptr());
        }

        #[test]
        fn text_that_only_looks_like_a_placeholder_is_left_alone() {
            let shared = SharedHtml::default();
            shared.place("<p>body</p>".into());
            let parts = shared.0.lock().unwrap().clone();
            let prefix = PREFIX.as_str();
            for page in [
                format!("{prefix}7-->"),
                format!("{prefix}x-->"),
                format!("{prefix}0"),
                format!("{prefix}0--"),
                "<!--shared-html-0000000000000000-0-->".to_string(),
                "no placeholder at all".to_string(),
            ] {
                assert_eq!(joined(splice(Bytes::from(page.clone()), &parts)), page);
            }
        }

        #[tokio::test]
        async fn a_response_carries_its_fragments() {
            let shared = SharedHtml::default();
            let mark = shared.place("<p>body</p>".into());
            let res = Response::new(Body::from(format!("<main>{mark}</main>")));
            let body = axum::body::to_bytes(shared.send(res).into_body(), usize::MAX).await;
            assert_eq!(body.unwrap(), "<main><p>body</p></main>");

            let untouched = SharedHtml::default().send(Response::new(Body::from(mark.to_string())));
            let body = axum::body::to_bytes(untouched.into_body(), usize::MAX).await;
            assert_eq!(body.unwrap(), mark.as_bytes());
        }
    }
}
