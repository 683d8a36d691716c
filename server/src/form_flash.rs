//! Sign-in forms posted without JavaScript keep what was typed when they fail.
//!
//! server_fn answers a failed plain form post by sending the browser back to the
//! form's page with the error base64-encoded in the address (`?__path=…&__err=…`),
//! and the page comes back with its fields empty. For the account forms
//! (`/api/auth/…`) this sends the browser back to the clean address instead, with
//! the error as text and the fields typed (never a password or a token) in a
//! one-minute cookie that the page reads once (`app::auth::form_flash`).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;

use app::auth::form_flash::{ssr::encode, FormFlash, COOKIE};
use app::error::AppError;

/// Sign-in forms are small; a larger body is left alone (and refused further in).
const MAX_FORM: u64 = 16 * 1024;
/// A kept field is cut to this many characters.
const MAX_FIELD: usize = 300;

/// The fields of a plain (no-JavaScript) post to an account form, read off the
/// request, which gets its body back; `None` for every other request.
pub async fn capture(req: Request) -> (Request, Option<Vec<(String, String)>>) {
    let plain_form = req.method() == Method::POST
        && req.uri().path().starts_with("/api/auth/")
        && header_has(&req, ACCEPT, "text/html")
        && header_has(&req, CONTENT_TYPE, "application/x-www-form-urlencoded");
    let small = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n <= MAX_FORM);
    if !plain_form || !small {
        return (req, None);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM as usize).await else {
        return (Request::from_parts(parts, Body::empty()), None);
    };
    let fields = form_urlencoded::parse(&bytes)
        .filter(|(k, _)| FormFlash::keeps(k))
        .map(|(k, v)| (k.into_owned(), v.chars().take(MAX_FIELD).collect()))
        .collect();
    (Request::from_parts(parts, Body::from(bytes)), Some(fields))
}

fn header_has(req: &Request, name: axum::http::HeaderName, part: &str) -> bool {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(part))
}

/// A failed post's answer: back to the form's clean address, with the flash.
pub fn after(mut res: Response, fields: Vec<(String, String)>) -> Response {
    let Some(location) = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return res;
    };
    let Some((page, query)) = location.split_once('?') else {
        return res;
    };
    let mut error = None;
    let mut kept = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "__err" => error = Some(message(&v)),
            "__path" => {}
            _ => {
                kept.append_pair(&k, &v);
            }
        }
    }
    let Some(error) = error else { return res };
    let kept = kept.finish();
    let clean = if kept.is_empty() {
        page.to_owned()
    } else {
        format!("{page}?{kept}")
    };
    // The referer is a full address; the flash is matched against its path.
    let path = page
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(page)
        .to_owned();
    let flash = FormFlash {
        path,
        error,
        fields,
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax",
        encode(&flash)
    );
    if let (Ok(location), Ok(cookie)) = (
        HeaderValue::from_str(&clean),
        HeaderValue::from_str(&cookie),
    ) {
        res.headers_mut().insert(LOCATION, location);
        res.headers_mut().append(SET_COOKIE, cookie);
    }
    res
}

/// server_fn's encoded error as the sentence the learner reads.
fn message(encoded: &str) -> String {
    URL_SAFE
        .decode(encoded)
        .ok()
        .and_then(|b| serde_json::from_slice::<AppError>(&b).ok())
        .unwrap_or(AppError::Internal)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_post_goes_back_to_the_clean_address_with_the_error_as_text() {
        let err = URL_SAFE.encode(
            serde_json::to_vec(&AppError::Validation("Use at least 10 characters.".into()))
                .expect("json"),
        );
        let location = format!(
            "http://127.0.0.1:3000/register?next=%2Fcourses%2Fx&__path=%2Fapi%2Fauth%2Fregister&__err={}",
            err.replace('=', "%3D")
        );
        let res = Response::builder()
            .status(302)
            .header(LOCATION, location)
            .body(Body::empty())
            .expect("response");
        let res = after(res, vec![("email".into(), "ann@example.com".into())]);
        assert_eq!(
            res.headers()[LOCATION],
            "http://127.0.0.1:3000/register?next=%2Fcourses%2Fx"
        );
        let cookie = res.headers()[SET_COOKIE].to_str().expect("ascii");
        let value = cookie
            .strip_prefix("mc_form=")
            .and_then(|c| c.split(';').next())
            .expect("cookie");
        let flash = app::auth::form_flash::ssr::decode(value).expect("flash");
        assert_eq!(flash.path, "/register");
        assert_eq!(flash.error, "Use at least 10 characters.");
        assert_eq!(flash.field("email"), "ann@example.com");
        // A success (no error in the address) is left alone.
        let ok = Response::builder()
            .status(302)
            .header(LOCATION, "/courses?x=1")
            .body(Body::empty())
            .expect("response");
        let ok = after(ok, vec![]);
        assert_eq!(ok.headers()[LOCATION], "/courses?x=1");
        assert!(ok.headers().get(SET_COOKIE).is_none());
    }
}
