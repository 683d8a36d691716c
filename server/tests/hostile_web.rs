//! An outside security review's findings, each replayed against the real
//! server (its accept loop, router and database over loopback) as the attack
//! it describes, and shown to hold now.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde_json::Value;
use support::{Backend, Person, TestApp, COURSE, FIRST};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OWNER: &str = "owner@example.com";
const OWNER_PASSWORD: &str = "learner password 1";

fn location(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A person whose requests leave from `source` (any 127.0.0.0/8 address is
/// this machine) and, if given, claim to be forwarded for `forwarded_for`.
fn person_at(app: &TestApp, source: &str, forwarded_for: Option<&str>) -> Person {
    let source: IpAddr = source.parse().expect("source address");
    let mut headers = HeaderMap::new();
    if let Some(f) = forwarded_for {
        headers.insert("x-forwarded-for", HeaderValue::from_str(f).expect("header"));
    }
    Person::with_client(&app.base, move |b| {
        b.local_address(source).default_headers(headers)
    })
}

async fn login_as(p: &Person, email: &str, password: &str, next: &str) -> reqwest::Response {
    p.call(
        "auth/login",
        &[("email", email), ("password", password), ("next", next)],
    )
    .await
}

// --- Medium: `next` sent sign-ins off-site, and a newline in it panicked ---

async fn next_stays_on_this_site(app: TestApp) {
    app.learner(OWNER).await.logout().await;
    // `%2F%09%2Fevil.example`: a browser drops the tab from `/\t/evil.example`
    // and goes to `//evil.example`, another site.
    for hostile in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\nSet-Cookie: planted=1",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/ /evil.example",
        "\t//evil.example",
    ] {
        let p = app.person();
        let r = login_as(&p, OWNER, OWNER_PASSWORD, hostile).await;
        assert_eq!(r.status(), StatusCode::OK, "next {hostile:?}");
        assert_eq!(location(&r).as_deref(), Some("/"), "next {hostile:?}");
        assert_eq!(
            p.me().await["email"],
            OWNER,
            "signed in despite {hostile:?}"
        );
        // The same with JavaScript off: a real 302.
        let p = app.person();
        let r = p
            .form_post(
                "auth/login",
                &[
                    ("email", OWNER),
                    ("password", OWNER_PASSWORD),
                    ("next", hostile),
                ],
                "/login",
            )
            .await;
        assert_eq!(r.status(), StatusCode::FOUND, "next {hostile:?}");
        assert_eq!(location(&r).as_deref(), Some("/"), "next {hostile:?}");
        assert!(r.headers().get("planted").is_none());
        // Signing up takes `next` too.
        let r = app
            .person()
            .call(
                "auth/register",
                &[
                    ("email", &format!("n{}@example.com", hostile.len())),
                    ("display_name", "N"),
                    ("password", "long enough pass"),
                    ("next", hostile),
                ],
            )
            .await;
        assert_eq!(
            location(&r).as_deref(),
            Some("/"),
            "sign-up next {hostile:?}"
        );
    }
    // A path on this site is kept.
    let p = app.person();
    let here = format!("/courses/{COURSE}/{FIRST}");
    let r = login_as(&p, OWNER, OWNER_PASSWORD, &here).await;
    assert_eq!(location(&r), Some(here));

    // The login and sign-up pages do not carry a hostile `next` into their forms or links.
    let anon = app.person();
    for page in ["/login", "/register"] {
        let html = anon
            .text(&format!("{page}?next=%2F%09%2Fevil.example"))
            .await;
        assert!(
            html.contains(r#"name="next" value="/""#),
            "{page} keeps only a local next:\n{html}"
        );
        assert!(!html.contains("evil.example"), "{page}:\n{html}");
        let html = anon.text(&format!("{page}?next=/courses/a%26b")).await;
        assert!(
            html.contains("next=/courses/a%26b"),
            "{page} escapes next in its link:\n{html}"
        );
    }
}
on_both_backends!(next_is_a_local_path, next_stays_on_this_site);

// --- Medium: five wrong passwords from anywhere locked the owner out ---

async fn strangers_cannot_lock_the_owner_out(app: TestApp) {
    app.learner(OWNER).await.logout().await;
    // No proxy is trusted: each socket address is a client, and what a client
    // writes in X-Forwarded-For counts for nothing.
    let attacker = person_at(&app, "127.0.0.2", None);
    let mut statuses = Vec::new();
    for i in 0..8 {
        let forged = format!("198.51.100.{i}");
        let r = attacker
            .client
            .post(format!("{}/api/auth/login", app.base))
            .header("Origin", &app.base)
            .header("X-Forwarded-For", forged)
            .form(&[("email", OWNER), ("password", "wrong guess")])
            .send()
            .await
            .expect("request");
        statuses.push(r.status());
    }
    assert_eq!(
        statuses[..5],
        [StatusCode::UNPROCESSABLE_ENTITY; 5],
        "{statuses:?}"
    );
    assert_eq!(
        statuses[5..],
        [StatusCode::TOO_MANY_REQUESTS; 3],
        "the attacker's own address is throttled, forged X-Forwarded-For or not: {statuses:?}"
    );
    assert_eq!(
        attacker.login(OWNER, OWNER_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even a right guess from there waits"
    );
    // The owner, at their own address, signs in as usual.
    let owner = person_at(&app, "127.0.0.3", None);
    let r = owner.login(OWNER, OWNER_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "the owner is not locked out");
    assert_eq!(owner.me().await["email"], OWNER);

    // One address spraying many accounts is throttled as a whole …
    app.learner("other@example.com").await;
    let sprayer = person_at(&app, "127.0.0.4", None);
    let mut last = StatusCode::OK;
    for i in 0..25 {
        last = sprayer
            .login(&format!("spray{i}@example.com"), "guess guess guess")
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "per-address limit");
    // … and nobody else is.
    let other = person_at(&app, "127.0.0.5", None);
    assert_eq!(
        other
            .login("other@example.com", OWNER_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // Successful sign-ins do not use up an address's attempts (a classroom
    // behind one address signs in all at once).
    let classroom = person_at(&app, "127.0.0.6", None);
    for _ in 0..30 {
        assert_eq!(
            classroom.login(OWNER, OWNER_PASSWORD).await.status(),
            StatusCode::OK
        );
    }
}
on_both_backends!(no_owner_lockout, strangers_cannot_lock_the_owner_out);

// --- Medium: behind nginx every learner shared one rate-limit bucket ---

async fn behind_a_trusted_proxy(app: TestApp) {
    app.learner(OWNER).await.logout().await;
    // Every request comes from 127.0.0.1, the proxy; the address nginx appends
    // last is the client's, and anything left of it is the client's own words.
    let attacker = person_at(&app, "127.0.0.1", Some("198.51.100.7, 203.0.113.9"));
    for _ in 0..5 {
        assert_eq!(
            attacker.login(OWNER, "wrong guess").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_eq!(
        attacker.login(OWNER, "wrong guess").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another learner behind the same proxy has a bucket of their own, even
    // the one whose address the attacker wrote into the header.
    for client in ["198.51.100.20", "198.51.100.7"] {
        let owner = person_at(&app, "127.0.0.1", Some(client));
        assert_eq!(
            owner.login(OWNER, OWNER_PASSWORD).await.status(),
            StatusCode::OK,
            "learner at {client}"
        );
    }

    // Sign-ups per hour count per learner, not per proxy (20 by default).
    let from_a = person_at(&app, "127.0.0.1", Some("192.0.2.10"));
    for i in 0..20 {
        let r = from_a
            .register(&format!("a{i}@example.com"), "A", "long enough pass")
            .await;
        assert_eq!(r.status(), StatusCode::OK, "sign-up {i}");
    }
    assert_eq!(
        from_a
            .register("a-more@example.com", "A", "long enough pass")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let from_b = person_at(&app, "127.0.0.1", Some("192.0.2.11"));
    assert_eq!(
        from_b
            .register("b@example.com", "B", "long enough pass")
            .await
            .status(),
        StatusCode::OK,
        "another learner behind the same proxy signs up"
    );
    // A client that is not the proxy cannot borrow a fresh address.
    let direct = person_at(&app, "127.0.0.2", Some("192.0.2.99"));
    for i in 0..20 {
        direct
            .register(&format!("d{i}@example.com"), "D", "long enough pass")
            .await;
    }
    let forged = person_at(&app, "127.0.0.2", Some("192.0.2.100"));
    assert_eq!(
        forged
            .register("d-more@example.com", "D", "long enough pass")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
}

mod trusted_proxies {
    async fn spawn(backend: super::Backend) -> Option<super::TestApp> {
        super::TestApp::spawn_custom(backend, |s| {
            s.trusted_proxies =
                masterclass::security::TrustedProxies::parse("127.0.0.1").expect("proxies");
        })
        .await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = spawn(super::Backend::Sqlite).await.expect("sqlite app");
        super::behind_a_trusted_proxy(app).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = spawn(super::Backend::Postgres).await {
            super::behind_a_trusted_proxy(app).await;
        }
    }
}

// --- Medium: no header, body or idle timeouts, no connection cap ---

async fn short_clocks(max_connections: usize) -> TestApp {
    TestApp::spawn_custom(Backend::Sqlite, move |s| {
        s.http = masterclass::serve::HttpLimits {
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(2),
            max_connections,
        };
    })
    .await
    .expect("app")
}

/// Reads until the server closes the connection; `None` if it has not within
/// 30 s (far beyond any of the clocks under test, which are 1–2 s).
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed
        .is_ok()
        .then(|| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_are_cut_off() {
    let app = short_clocks(64).await;
    // Slowloris: the request line and one header, never the blank line.
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert!(
        read_until_closed(&mut s).await.is_some(),
        "a connection with half its headers is closed"
    );
    // Trickling a byte at a time does not reset the clock.
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    let mut cut = false;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if s.write_all(b"X").await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "a trickled header is cut off");
    // A connection that never says anything is closed too.
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    assert!(
        read_until_closed(&mut s).await.is_some(),
        "a silent connection is closed"
    );
    // A whole request is answered as ever.
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut s).await.expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kept_alive_connections_are_closed() {
    let app = short_clocks(64).await;
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    for _ in 0..2 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.expect("read");
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Kept alive: a second request on the same connection is answered.
    }
    assert!(
        read_until_closed(&mut s).await.is_some(),
        "an idle kept-alive connection is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_are_cut_off() {
    let app = short_clocks(64).await;
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    let origin = &app.base;
    s.write_all(
        format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=a",
            app.addr
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let answer = read_until_closed(&mut s).await;
    assert!(answer.is_some(), "a body that never arrives is cut off");
    let answer = answer.unwrap_or_default();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "answered as the client's fault, if at all: {answer}"
    );
    // A body sent in time is read as ever.
    let r = app
        .person()
        .login("nobody@example.com", "whatever it is")
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused() {
    let app = TestApp::spawn_custom(Backend::Sqlite, |s| {
        s.http = masterclass::serve::HttpLimits {
            max_connections: 4,
            ..Default::default()
        };
    })
    .await
    .expect("app");
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(app.addr).await.expect("connect");
        // A complete request keeps the connection open and proves it was taken.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let mut extra = TcpStream::connect(app.addr).await.expect("connect");
    let answer = read_until_closed(&mut extra)
        .await
        .expect("refused at once");
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "the fifth connection is told to come back: {answer:?}"
    );
    // A closed connection frees its place (once the server has seen it close).
    drop(held.pop());
    let p = app.person();
    let mut served = false;
    for _ in 0..100 {
        let r = p.client.get(format!("{}/healthz", app.base)).send().await;
        if r.is_ok_and(|r| r.status() == StatusCode::OK) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a freed place is taken again");
}

// --- Low: reset links outlived a reset and a password change ---

/// A reset link's token, as `masterclass admin reset-link` or the reset mail gives it.
async fn reset_token(app: &TestApp) -> String {
    let link = app::auth::accounts::issue_reset_link(&app.db, "http://127.0.0.1", OWNER)
        .await
        .expect("issue")
        .expect("an account");
    link.split("token=")
        .nth(1)
        .expect("token in link")
        .to_string()
}

async fn reset_links_die_with_the_password(app: TestApp) {
    let owner = app.learner(OWNER).await;
    let issue = || reset_token(&app);
    let (first, second) = (issue().await, issue().await);
    let anon = app.person();
    assert_eq!(
        anon.reset_password(&first, "first new password")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.person()
            .reset_password(&first, "used twice password")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a link works once"
    );
    assert_eq!(
        app.person()
            .reset_password(&second, "second new password")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "an older link dies with the reset"
    );
    // A link issued before a password change dies with the change.
    let third = issue().await;
    assert_eq!(
        anon.change_password("first new password", "changed password 1")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.person()
            .reset_password(&third, "third new password")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a link dies with a password change"
    );
    // The password is the one the owner chose last.
    drop(owner);
    assert_eq!(
        app.person()
            .login(OWNER, "changed password 1")
            .await
            .status(),
        StatusCode::OK
    );
    // A link issued after the change works.
    let fourth = issue().await;
    assert_eq!(
        app.person()
            .reset_password(&fourth, "fourth new password")
            .await
            .status(),
        StatusCode::OK
    );
}
on_both_backends!(reset_links_single_use, reset_links_die_with_the_password);

// --- Low: registration said whether an email has an account ---

async fn registration_does_not_tell(backend: Backend) {
    let (port, mut mail) = support::smtp_sink().await;
    let Some(app) = TestApp::spawn_custom(backend, |s| {
        s.smtp = Some(support::smtp_to_sink(port));
    })
    .await
    else {
        return;
    };
    let form = |email: &'static str| {
        [
            ("email", email),
            ("display_name", "Someone"),
            ("password", "a long password 1"),
            ("next", "/courses"),
        ]
    };
    let fresh = app.person();
    let new_account = fresh
        .call("auth/register", &form("fresh@example.com"))
        .await;
    app.learner(OWNER).await;
    let stranger = app.person();
    let taken = stranger
        .call("auth/register", &form("Owner@Example.com"))
        .await;
    assert_eq!(taken.status(), new_account.status());
    assert_eq!(location(&taken), location(&new_account));
    let cookie = |r: &reqwest::Response| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.as_bytes().starts_with(b"masterclass_session="))
    };
    assert!(
        cookie(&new_account) && cookie(&taken),
        "both get a session cookie"
    );
    let (a, b) = (
        new_account.text().await.expect("body"),
        taken.text().await.expect("body"),
    );
    assert_eq!(a, b, "the same answer either way");
    assert!(!b.contains("already"), "{b}");
    // Nobody was signed in to the owner's account, which is unchanged.
    assert_eq!(stranger.me().await, Value::Null);
    assert_eq!(fresh.me().await["email"], "fresh@example.com");
    assert_eq!(
        app.person().login(OWNER, OWNER_PASSWORD).await.status(),
        StatusCode::OK
    );
    // The owner hears of it.
    let message = tokio::time::timeout(Duration::from_secs(30), mail.recv())
        .await
        .expect("mail in time")
        .expect("mail");
    assert!(message.contains(&format!("To: {OWNER}")), "{message}");
    assert!(
        message.contains("Subject: Someone tried to create a Masterclass account"),
        "{message}"
    );
    // With JavaScript off the two look the same too.
    let r = app
        .person()
        .form_post("auth/register", &form(OWNER), "/register")
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r).as_deref(), Some("/courses"));
}

mod registration {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::registration_does_not_tell(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::registration_does_not_tell(super::Backend::Postgres).await;
    }
}

// --- Low: no HSTS over https ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_when_the_public_url_is_https() {
    let https = TestApp::spawn_custom(Backend::Sqlite, |s| {
        s.public_url = "https://learn.example".into();
    })
    .await
    .expect("app");
    let r = https.person().get("/").await;
    assert_eq!(
        r.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    let plain = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let r = plain.person().get("/").await;
    assert!(
        r.headers().get("strict-transport-security").is_none(),
        "not over plain http"
    );
}

// --- Low: the cross-origin check compared hosts, not schemes and ports ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_check_compares_scheme_host_and_port() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let p = app.learner("erin@example.com").await;
    let port = app.addr.port();
    let complete = |origin: String, host: Option<&'static str>| {
        let mut req = p
            .client
            .post(format!("{}/api/courses/complete", app.base))
            .header("Origin", origin)
            .form(&[("course", COURSE), ("module", FIRST), ("complete", "true")]);
        if let Some(h) = host {
            req = req.header("Host", h);
        }
        req.send()
    };
    for forged in [
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        format!("https://127.0.0.1:{}", port.wrapping_add(1)),
    ] {
        let r = complete(forged.clone(), None).await.expect("request");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "origin {forged}");
    }
    let ov = Person::json(p.overview(COURSE).await).await;
    assert_eq!(ov["completed"], 0, "no forged completion happened");
    let r = complete(app.base.clone(), None).await.expect("request");
    assert_eq!(r.status(), StatusCode::OK, "the site itself may");

    // An https site: a plain-http page on its own host is not the site.
    let https = TestApp::spawn_custom(Backend::Sqlite, |s| {
        s.public_url = "https://learn.example".into();
    })
    .await
    .expect("app");
    let p = https.learner("finn@example.com").await;
    let send = |origin: &'static str| {
        p.client
            .post(format!("{}/api/courses/complete", https.base))
            .header("Host", "learn.example")
            .header("Origin", origin)
            .form(&[("course", COURSE), ("module", FIRST), ("complete", "true")])
            .send()
    };
    assert_eq!(
        send("http://learn.example")
            .await
            .expect("request")
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send("https://learn.example")
            .await
            .expect("request")
            .status(),
        StatusCode::OK
    );
}

// --- Low: signed-in answers could be cached ---

async fn signed_in_answers_are_not_stored(app: TestApp) {
    let cache = |r: &reqwest::Response| {
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let anon = app.person();
    assert_eq!(
        cache(&anon.get("/").await),
        None,
        "visitors' pages may be cached"
    );
    let p = app.learner("gus@example.com").await;
    for path in ["/", "/account", &format!("/courses/{COURSE}/{FIRST}")] {
        let r = p.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(cache(&r).as_deref(), Some("no-store"), "{path}");
    }
    let r = p.call("auth/me", &[]).await;
    assert_eq!(cache(&r).as_deref(), Some("no-store"), "API answers too");
    // The answer that signs someone in is not kept either.
    let r = app
        .person()
        .login("gus@example.com", "learner password 1")
        .await;
    assert_eq!(cache(&r).as_deref(), Some("no-store"));
    // Site files keep their own long-lived caching, course media are public.
    let r = p.get("/pkg/masterclass.0123456789abcdef.css").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        cache(&r).as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    let r = p.get(&format!("/media/{COURSE}/welcome.en.vtt")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(cache(&r).as_deref(), Some("no-store"));
}

mod no_store {
    async fn spawn(backend: super::Backend) -> Option<super::TestApp> {
        let site = tempfile::tempdir().expect("site dir").keep();
        std::fs::create_dir_all(site.join("pkg")).expect("pkg");
        std::fs::write(
            site.join("pkg/masterclass.0123456789abcdef.css"),
            "body { color: black }",
        )
        .expect("css");
        super::TestApp::spawn_custom(backend, move |s| s.site_dir = site).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = spawn(super::Backend::Sqlite).await.expect("sqlite app");
        super::signed_in_answers_are_not_stored(app).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = spawn(super::Backend::Postgres).await {
            super::signed_in_answers_are_not_stored(app).await;
        }
    }
}

// --- Low: /metrics was public ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_want_the_token_when_one_is_set() {
    const TOKEN: &str = "metrics-token-0123456789";
    let app = TestApp::spawn_custom(Backend::Sqlite, |s| {
        s.metrics.token = Some(TOKEN.into());
    })
    .await
    .expect("app");
    let p = app.person();
    let get = |auth: Option<&'static str>| {
        let mut req = p.client.get(format!("{}/metrics", app.base));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789x"),
        Some("Basic bWV0cmljczp4"),
        Some("Bearer metrics-token-012345678"),
    ] {
        let r = get(auth).await.expect("request");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        let body = r.text().await.expect("body");
        assert!(!body.contains("masterclass_http_requests_total"), "{body}");
    }
    let r = get(Some("Bearer metrics-token-0123456789"))
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("# TYPE masterclass_http_requests_total counter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_an_address_of_their_own() {
    let dir = tempfile::tempdir().expect("dir");
    let (url, schema) = support::fresh_database(Backend::Sqlite, dir.path())
        .await
        .expect("database");
    let mut settings = support::settings_for(dir.path(), url, schema);
    settings.metrics.addr = Some("127.0.0.1:0".parse().expect("addr"));
    let db = masterclass::startup::database(&settings)
        .await
        .expect("database");
    masterclass::startup::import_content(&db, &settings)
        .await
        .expect("import");
    let server = masterclass::startup::build(&settings, db, Default::default())
        .await
        .expect("build");
    let metrics_addr = server.metrics_addr.expect("metrics address bound");
    let addr = support::serve(server).await;
    let p = Person::new(&format!("http://{addr}"), Default::default());
    assert_eq!(p.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(
        p.get("/metrics").await.status(),
        StatusCode::NOT_FOUND,
        "not on the public address"
    );
    let m = Person::new(&format!("http://{metrics_addr}"), Default::default());
    let text = m.text("/metrics").await;
    assert!(
        text.contains(
            r#"masterclass_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert_eq!(
        m.get("/").await.status(),
        StatusCode::NOT_FOUND,
        "only metrics there"
    );
}
