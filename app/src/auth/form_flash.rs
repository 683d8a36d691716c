//! What a failed sign-in form said and held, when it was posted without JavaScript.
//!
//! A plain form post that fails is sent back to its page. Leptos would put the
//! error in the address as a base64 blob and the page would come back empty; the
//! server (`server/src/form_flash.rs`) instead keeps the error and the fields typed
//! (never a password or a token) in a short-lived cookie, and the page shows both.

use serde::{Deserialize, Serialize};

/// The cookie the flash travels in.
pub const COOKIE: &str = "mc_form";

/// A failed form: the page it came from, the error as text, and what was typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FormFlash {
    pub path: String,
    pub error: String,
    pub fields: Vec<(String, String)>,
}

impl FormFlash {
    /// What was typed in the field `name`, or nothing.
    pub fn field(&self, name: &str) -> String {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Whether a field of this name may be kept: never a secret.
    pub fn keeps(name: &str) -> bool {
        !(name.contains("password") || name.contains("token") || name.starts_with("__"))
    }
}

/// The flash for the page being rendered, if a form on it just failed: read (and
/// cleared) by the server, and sent along with the page so it hydrates the same.
pub fn use_form_flash() -> Option<FormFlash> {
    leptos::prelude::SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            ssr::take()
        }
        #[cfg(not(feature = "ssr"))]
        {
            None
        }
    })
    .into_inner()
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Encoding the flash into its cookie and reading it back for a page.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::{FormFlash, COOKIE};

    /// The cookie's value: the flash as JSON, base64url (cookie-safe).
    pub fn encode(flash: &FormFlash) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(flash).unwrap_or_default())
    }

    /// A cookie value back into a flash; `None` for anything else.
    pub fn decode(value: &str) -> Option<FormFlash> {
        let bytes = URL_SAFE_NO_PAD.decode(value.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The flash for this page's path, cleared so a reload shows a clean form.
    pub(super) fn take() -> Option<FormFlash> {
        use axum::http::header::{COOKIE as COOKIE_HEADER, SET_COOKIE};
        let parts = leptos::prelude::use_context::<axum::http::request::Parts>()?;
        let value = parts
            .headers
            .get_all(COOKIE_HEADER)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
        let flash = decode(value).filter(|f| f.path == parts.uri.path())?;
        if let (Some(opts), Ok(clear)) = (
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
            axum::http::HeaderValue::from_str(&format!(
                "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
            )),
        ) {
            opts.append_header(SET_COOKIE, clear);
        }
        Some(flash)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_flash_round_trips_through_its_cookie_and_refuses_garbage() {
            let f = FormFlash {
                path: "/register".into(),
                error: "That email is <taken>; try \"another\".".into(),
                fields: vec![("email".into(), "zoë@example.com".into())],
            };
            let v = encode(&f);
            assert!(
                v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{v}"
            );
            assert_eq!(decode(&v), Some(f));
            assert_eq!(decode("not base64 !"), None);
            assert_eq!(decode(&URL_SAFE_NO_PAD.encode(b"[1,2]")), None);
            assert!(!FormFlash::keeps("new_password") && !FormFlash::keeps("token"));
            assert!(FormFlash::keeps("email") && FormFlash::keeps("display_name"));
        }
    }
}
