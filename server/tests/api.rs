//! The platform's HTTP surface, end to end over loopback, on SQLite and PostgreSQL.

mod support;

use reqwest::StatusCode;
use serde_json::Value;
use support::{Person, TestApp, COURSE, FIRST, SECOND};

async fn registration(app: TestApp) {
    let p = app.person();
    assert_eq!(p.me().await, Value::Null, "a visitor is nobody");
    let r = p
        .register("Ada@Example.com", "Ada", "correct horse battery")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("location")
            .map(|v| v.to_str().unwrap_or("")),
        Some("/")
    );
    let me = p.me().await;
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["display_name"], "Ada");
    assert_eq!(me["is_admin"], false);
    assert!(me.get("password_hash").is_none());

    let other = app.person();
    let dup = other
        .register("ada@example.com", "Another Ada", "another password")
        .await;
    // The same answer as a new account (hostile_web.rs checks it closely),
    // but nobody is signed in.
    assert_eq!(dup.status(), StatusCode::OK);
    assert_eq!(other.me().await, Value::Null);
    assert_eq!(
        other
            .register("not-an-email", "X", "long enough pass")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        other.register("x@example.com", "X", "short").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        other
            .register("x@example.com", "  ", "long enough pass")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        other.me().await,
        Value::Null,
        "failed registrations sign nobody in"
    );
    // A learner cannot choose where a redirect goes off-site.
    let r = app
        .person()
        .call(
            "auth/register",
            &[
                ("email", "y@example.com"),
                ("display_name", "Y"),
                ("password", "long enough pass"),
                ("next", "//evil.example"),
            ],
        )
        .await;
    assert_eq!(
        r.headers()
            .get("location")
            .map(|v| v.to_str().unwrap_or("")),
        Some("/")
    );
}
on_both_backends!(registration_works, registration);

async fn login_logout_and_rotation(app: TestApp) {
    let p = app.learner("bob@example.com").await;
    p.logout().await;
    assert_eq!(p.me().await, Value::Null);

    let wrong = p.login("bob@example.com", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_msg = Person::json(wrong).await;
    let unknown = p.login("nobody@example.com", "not the password").await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        Person::json(unknown).await,
        wrong_msg,
        "unknown email and wrong password look the same"
    );

    // A session id planted before login is not the one used after it.
    p.me().await;
    let before = p.session_cookie();
    let ok = p.login("Bob@Example.com", "learner password 1").await;
    assert_eq!(ok.status(), StatusCode::OK);
    let after = p.session_cookie().expect("session cookie after login");
    assert_ne!(
        before.as_deref(),
        Some(after.as_str()),
        "session id rotates on login"
    );
    assert_eq!(p.me().await["email"], "bob@example.com");

    // The cookie is HttpOnly and SameSite=Lax.
    let r = app
        .person()
        .login("bob@example.com", "learner password 1")
        .await;
    let set_cookie: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("masterclass_session="))
        .expect("session cookie set");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );

    // Logging out destroys the session: replaying the old cookie gets nobody.
    let replay = p.with_cookie(&after);
    assert_eq!(replay.me().await["email"], "bob@example.com");
    p.logout().await;
    assert_eq!(p.me().await, Value::Null);
    assert_eq!(
        replay.me().await,
        Value::Null,
        "the logged-out session is gone from the store"
    );
}
on_both_backends!(login_logout_rotation, login_logout_and_rotation);

async fn rate_limits(app: TestApp) {
    app.learner("carol@example.com").await;
    let p = app.person();
    for _ in 0..5 {
        assert_eq!(
            p.login("carol@example.com", "wrong password!")
                .await
                .status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let limited = p.login("carol@example.com", "learner password 1").await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the account is locked even for the right password"
    );
    assert!(
        Person::json(limited).await.to_string().contains("Too many"),
        "a clear message"
    );
    // Other accounts are not locked out by Carol's attacker …
    app.learner("dave@example.com").await;
    let d = app.person();
    assert_eq!(
        d.login("dave@example.com", "learner password 1")
            .await
            .status(),
        StatusCode::OK
    );
    // … until the address itself has tried too often.
    let mut last = StatusCode::OK;
    for i in 0..25 {
        last = d
            .login(&format!("spray{i}@example.com"), "guess guess guess")
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "per-address limit");
}
on_both_backends!(rate_limiting, rate_limits);

async fn csrf(app: TestApp) {
    let p = app.learner("erin@example.com").await;
    for origin in ["https://evil.example", "null"] {
        let r = p
            .client
            .post(format!("{}/api/courses/complete", app.base))
            .header("Origin", origin)
            .form(&[("course", COURSE), ("module", FIRST), ("complete", "true")])
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "origin {origin}");
    }
    let r = p
        .client
        .post(format!("{}/api/auth/logout", app.base))
        .header("Referer", "https://evil.example/page")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let ov = Person::json(p.overview(COURSE).await).await;
    assert_eq!(ov["completed"], 0, "the forged completion did not happen");
    assert_eq!(
        p.me().await["email"],
        "erin@example.com",
        "the forged logout did not happen"
    );
}
on_both_backends!(csrf_rejected, csrf);

async fn progress(app: TestApp) {
    let p = app.learner("fay@example.com").await;
    let ov = Person::json(p.overview(COURSE).await).await;
    assert_eq!(ov["signed_in"], true);
    assert_eq!(ov["completed"], 0);
    let total = ov["total"].as_i64().expect("total");
    assert!(total >= 4, "the seeded course has a module per section");
    assert_eq!(ov["continue_to"]["slug"], FIRST);
    assert_eq!(ov["sections"].as_array().map(Vec::len), Some(4));

    assert_eq!(
        p.complete(COURSE, FIRST, true).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        p.complete(COURSE, FIRST, true).await.status(),
        StatusCode::OK,
        "completing twice is harmless"
    );
    let ov = Person::json(p.overview(COURSE).await).await;
    assert_eq!(ov["completed"], 1);
    assert_eq!(ov["sections"][0]["completed"], 1);
    assert_eq!(
        ov["continue_to"]["slug"], SECOND,
        "continue goes to the next module"
    );

    let m = Person::json(p.module(COURSE, FIRST).await).await;
    assert_eq!(m["completed"], true);
    assert!(
        m["links_html"].as_str().is_some_and(
            |l| l.contains(&format!(r#"rel="next" href="/courses/{COURSE}/{SECOND}""#))
        ),
        "{m}"
    );
    assert_eq!(m["course_completed"], 1);

    assert_eq!(
        p.complete(COURSE, FIRST, false).await.status(),
        StatusCode::OK
    );
    assert_eq!(Person::json(p.overview(COURSE).await).await["completed"], 0);
    assert_eq!(
        p.complete(COURSE, "no-such-module", true).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        p.complete("no-such-course", FIRST, true).await.status(),
        StatusCode::NOT_FOUND
    );
}
on_both_backends!(progress_is_recorded, progress);

async fn prerequisites(app: TestApp) {
    let p = app.learner("gil@example.com").await;
    let ov = Person::json(p.overview(COURSE).await).await;
    let second = &ov["sections"][0]["modules"][1];
    assert_eq!(second["slug"], SECOND);
    assert!(
        second["locked"]
            .as_str()
            .is_some_and(|r| r.contains("What a load test is for")),
        "{second}"
    );

    let m = Person::json(p.module(COURSE, SECOND).await).await;
    assert!(m["locked"].is_string());
    assert_eq!(m["body_html"], "", "a locked module's content is not sent");
    assert_eq!(
        p.complete(COURSE, SECOND, true).await.status(),
        StatusCode::FORBIDDEN
    );

    p.complete(COURSE, FIRST, true).await;
    let m = Person::json(p.module(COURSE, SECOND).await).await;
    assert!(m["locked"].is_null());
    assert!(m["body_html"]
        .as_str()
        .is_some_and(|b| b.contains("<table>")));
    assert_eq!(
        p.complete(COURSE, SECOND, true).await.status(),
        StatusCode::OK
    );
}
on_both_backends!(prerequisites_lock_modules, prerequisites);

/// The header is rendered with the page: it names who is signed in (also on a
/// page that does not exist), and stops the moment they are signed out.
async fn header_names_the_signed_in(app: TestApp) {
    let signed_in = r#"<a href="/account" class="who">Learner</a>"#;
    let p = app.learner("ned@example.com").await;
    for path in ["/", &format!("/courses/{COURSE}/{FIRST}"), "/no/such/page"] {
        let r = p.get(path).await;
        let status = r.status();
        let html = r.text().await.expect("body");
        assert!(
            html.contains(signed_in) && html.contains("Log out"),
            "{path} ({status}): {html}"
        );
    }
    let anon = app.person().text("/").await;
    assert!(!anon.contains("Log out") && anon.contains(r#"<a href="/login">Log in</a>"#));

    // Another device changes the password: this session is signed out.
    let phone = app.person();
    phone.login("ned@example.com", "learner password 1").await;
    phone
        .change_password("learner password 1", "new password 3333")
        .await;
    let html = p.text("/").await;
    assert!(
        !html.contains(signed_in) && html.contains("Log in"),
        "{html}"
    );
    p.logout().await;
    assert!(phone.text("/").await.contains(signed_in));
    phone.logout().await;
    assert!(!phone.text("/").await.contains(signed_in));
}
on_both_backends!(header_names_the_signed_in_user, header_names_the_signed_in);

async fn passwords(app: TestApp) {
    let laptop = app.learner("hal@example.com").await;
    let phone = app.person();
    phone.login("hal@example.com", "learner password 1").await;
    assert_eq!(
        laptop
            .change_password("wrong current pw", "new password 2222")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        laptop
            .change_password("learner password 1", "short")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        laptop
            .change_password("learner password 1", "new password 2222")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        laptop.me().await["email"],
        "hal@example.com",
        "this device stays signed in"
    );
    assert_eq!(
        phone.me().await,
        Value::Null,
        "other devices are signed out"
    );
    assert_eq!(
        app.person()
            .login("hal@example.com", "learner password 1")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.person()
            .login("hal@example.com", "new password 2222")
            .await
            .status(),
        StatusCode::OK
    );

    // Reset: the same answer whether or not the account exists; the link works once.
    let anon = app.person();
    assert_eq!(
        anon.forgot_password("hal@example.com").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        anon.forgot_password("nobody@example.com").await.status(),
        StatusCode::OK
    );
    let link = app::auth::accounts::issue_reset_link(&app.db, "http://x", "hal@example.com")
        .await
        .expect("db")
        .expect("link");
    let token = link.split("token=").nth(1).expect("token");
    assert_eq!(
        anon.reset_password(token, "reset password 3333")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(anon.me().await["email"], "hal@example.com");
    assert_eq!(
        laptop.me().await,
        Value::Null,
        "a reset signs out every other session"
    );
    assert_eq!(
        app.person()
            .reset_password(token, "another password 4")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "single use"
    );
    assert_eq!(
        app.person()
            .reset_password("0000", "another password 4")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.person()
            .login("hal@example.com", "reset password 3333")
            .await
            .status(),
        StatusCode::OK
    );
}
on_both_backends!(password_change_and_reset, passwords);

/// Every server function, called by each kind of caller. A server function
/// added without a row here fails the test.
async fn authorization(app: TestApp) {
    let anon = app.person();
    let alice = app.learner("alice@example.com").await;
    let mallory = app.learner("mallory@example.com").await;
    let admin = app.admin().await;
    alice.complete(COURSE, FIRST, true).await;

    let mut covered: Vec<&str> = Vec::new();
    let mut check = |endpoint: &'static str| covered.push(endpoint);

    check("auth/me");
    assert_eq!(anon.me().await, Value::Null);
    assert_eq!(alice.me().await["email"], "alice@example.com");
    assert_eq!(mallory.me().await["email"], "mallory@example.com");
    assert_eq!(admin.me().await["is_admin"], true);

    check("courses/list");
    for p in [&anon, &alice, &mallory, &admin] {
        assert_eq!(p.courses().await.status(), StatusCode::OK);
    }

    // The stops around a lab are part of the public outline: anyone may ask.
    check("courses/lab-way");
    for p in [&anon, &alice] {
        let r = p
            .call(
                "courses/lab-way",
                &[("course", COURSE), ("lab", "first-load-test")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        anon.call(
            "courses/lab-way",
            &[("course", COURSE), ("lab", "no-such-lab")]
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );

    check("courses/overview");
    let ov = Person::json(anon.overview(COURSE).await).await;
    assert_eq!(
        (
            ov["signed_in"].clone(),
            ov["completed"].clone(),
            ov["continue_to"].clone()
        ),
        (Value::Bool(false), Value::from(0), Value::Null)
    );
    assert_eq!(
        Person::json(alice.overview(COURSE).await).await["completed"],
        1
    );
    assert_eq!(
        Person::json(mallory.overview(COURSE).await).await["completed"],
        0,
        "progress is per learner"
    );
    assert_eq!(
        Person::json(admin.overview(COURSE).await).await["completed"],
        0
    );

    check("courses/module");
    assert_eq!(
        anon.module(COURSE, FIRST).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A missing or malformed field is the caller's mistake: 422 with a message, not 500.
    let malformed: [(&Person, &str, &[(&str, &str)]); 2] = [
        (&anon, "courses/module", &[("course", COURSE)]),
        (
            &alice,
            "courses/complete",
            &[("course", COURSE), ("module", FIRST), ("complete", "maybe")],
        ),
    ];
    for (who, endpoint, form) in malformed {
        let r = who.call(endpoint, form).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{endpoint}");
        let body = Person::json(r).await;
        assert!(
            body["Validation"]
                .as_str()
                .is_some_and(|m| m.contains("malformed")),
            "{body}"
        );
    }
    assert_eq!(
        Person::json(alice.module(COURSE, FIRST).await).await["completed"],
        true
    );
    assert_eq!(
        Person::json(mallory.module(COURSE, FIRST).await).await["completed"],
        false
    );
    assert_eq!(admin.module(COURSE, FIRST).await.status(), StatusCode::OK);

    check("courses/complete");
    assert_eq!(
        anon.complete(COURSE, FIRST, true).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        mallory.complete(COURSE, FIRST, false).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        Person::json(alice.overview(COURSE).await).await["completed"],
        1,
        "mallory cannot undo alice's progress"
    );
    assert_eq!(
        admin.complete(COURSE, FIRST, true).await.status(),
        StatusCode::OK
    );

    // The exam: attempts are private to their learner (others get 404, as if nothing were there).
    check("exam/overview");
    let course = [("course", COURSE)];
    assert_eq!(
        anon.call("exam/overview", &course).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for p in [&alice, &mallory, &admin] {
        assert_eq!(
            p.call("exam/overview", &course).await.status(),
            StatusCode::OK
        );
    }

    check("exam/start");
    // What the exam requires first, done (hostile_exam.rs checks that it is required).
    for p in [&alice, &mallory, &admin] {
        app.make_eligible(p, COURSE).await;
    }
    assert_eq!(
        anon.call("exam/start", &course).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let attempt = Person::json(alice.call("exam/start", &course).await)
        .await
        .to_string();
    assert_eq!(
        mallory.call("exam/start", &course).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        admin.call("exam/start", &course).await.status(),
        StatusCode::OK
    );
    let a = attempt.as_str();

    check("exam/summary");
    check("exam/question");
    check("exam/flag");
    check("exam/save");
    for (endpoint, form) in [
        ("exam/summary", vec![("attempt", a)]),
        ("exam/question", vec![("attempt", a), ("position", "1")]),
        (
            "exam/flag",
            vec![("attempt", a), ("position", "1"), ("flagged", "true")],
        ),
        (
            "exam/save",
            vec![("attempt", a), ("position", "1"), ("seq", "1")],
        ),
    ] {
        assert_eq!(
            anon.call(endpoint, &form).await.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint}"
        );
        assert_eq!(
            mallory.call(endpoint, &form).await.status(),
            StatusCode::NOT_FOUND,
            "{endpoint}"
        );
        assert_eq!(
            admin.call(endpoint, &form).await.status(),
            StatusCode::NOT_FOUND,
            "{endpoint}"
        );
        assert_eq!(
            alice.call(endpoint, &form).await.status(),
            StatusCode::OK,
            "{endpoint}"
        );
    }

    check("exam/result");
    check("exam/submit");
    let form = [("attempt", a)];
    assert_eq!(
        alice.call("exam/result", &form).await.status(),
        StatusCode::CONFLICT,
        "not before submission"
    );
    for p in [&anon, &mallory, &admin] {
        assert_ne!(p.call("exam/submit", &form).await.status(), StatusCode::OK);
    }
    assert_eq!(
        alice.call("exam/submit", &form).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        anon.call("exam/result", &form).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        mallory.call("exam/result", &form).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        alice.call("exam/result", &form).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        admin.call("exam/result", &form).await.status(),
        StatusCode::OK,
        "administrators review results"
    );

    // The exam's administration: administrators only, whoever's attempt it is.
    check("exam/admin/courses");
    check("exam/admin/blueprint");
    check("exam/admin/attempts");
    check("exam/admin/statistics");
    check("exam/admin/save-blueprint");
    check("exam/admin/extra-time");
    check("exam/admin/extra-attempt");
    check("exam/admin/void");
    let alice_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind("alice@example.com")
        .fetch_one(&app.db)
        .await
        .expect("alice");
    let alice_id = alice_id.to_string();
    let active = Person::json(mallory.call("exam/start", &course).await)
        .await
        .to_string();
    for (endpoint, form, admin_gets) in [
        ("exam/admin/courses", vec![], StatusCode::OK),
        (
            "exam/admin/blueprint",
            vec![("course", COURSE)],
            StatusCode::OK,
        ),
        (
            "exam/admin/attempts",
            vec![("course", COURSE)],
            StatusCode::OK,
        ),
        (
            "exam/admin/statistics",
            vec![("course", COURSE)],
            StatusCode::OK,
        ),
        (
            "exam/admin/save-blueprint",
            vec![
                ("course", COURSE),
                ("time_limit", "0"),
                ("time_unit", "minutes"),
                ("pass_mark_percent", "70"),
                ("attempts_allowed", "3"),
                ("cooldown_minutes", "0"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "exam/admin/extra-time",
            vec![("attempt", active.as_str()), ("minutes", "5")],
            StatusCode::OK,
        ),
        (
            "exam/admin/extra-attempt",
            vec![("course", COURSE), ("user", alice_id.as_str())],
            StatusCode::OK,
        ),
        (
            "exam/admin/void",
            vec![("attempt", a), ("reason", "authorization check")],
            StatusCode::OK,
        ),
    ] {
        assert_eq!(
            anon.call(endpoint, &form).await.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint}"
        );
        // Alice owns attempt `a`, Mallory the active one: owning it is not enough.
        for p in [&alice, &mallory] {
            assert_eq!(
                p.call(endpoint, &form).await.status(),
                StatusCode::FORBIDDEN,
                "{endpoint}"
            );
        }
        assert_eq!(
            admin.call(endpoint, &form).await.status(),
            admin_gets,
            "{endpoint}"
        );
    }

    // Certificates: claiming is the learner's own; viewing and verifying are public;
    // the list and revocation are for administrators.
    check("certs/claim-info");
    check("certs/issue");
    check("certs/get");
    check("certs/mine");
    check("certs/verify");
    check("certs/admin/list");
    check("certs/admin/revoke");
    sqlx::query("UPDATE exam_attempts SET status = 'submitted', passed = 1 WHERE id = $1")
        .bind(active.parse::<i64>().expect("attempt id"))
        .execute(&app.db)
        .await
        .expect("mark passed");
    let passed = active.as_str();
    for (endpoint, form) in [
        ("certs/claim-info", vec![("attempt", passed)]),
        (
            "certs/issue",
            vec![("attempt", passed), ("name", "Mallory M")],
        ),
    ] {
        assert_eq!(
            anon.call(endpoint, &form).await.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint}"
        );
        for p in [&alice, &admin] {
            assert_eq!(
                p.call(endpoint, &form).await.status(),
                StatusCode::NOT_FOUND,
                "{endpoint}"
            );
        }
        assert_eq!(
            mallory.call(endpoint, &form).await.status(),
            StatusCode::OK,
            "{endpoint}"
        );
    }
    let cert = Person::json(
        mallory
            .issue_certificate(active.parse().expect("id"), "Mallory M")
            .await,
    )
    .await
    .as_str()
    .expect("certificate id")
    .to_string();
    for p in [&anon, &alice, &mallory, &admin] {
        assert_eq!(
            p.call("certs/get", &[("id", &cert)]).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            p.call("certs/verify", &[("jwt", "x.y.z")]).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        anon.call("certs/mine", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for p in [&alice, &mallory, &admin] {
        assert_eq!(p.call("certs/mine", &[]).await.status(), StatusCode::OK);
    }
    for (endpoint, form) in [
        ("certs/admin/list", vec![]),
        (
            "certs/admin/revoke",
            vec![("id", cert.as_str()), ("reason", "authorization check")],
        ),
    ] {
        assert_eq!(
            anon.call(endpoint, &form).await.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint}"
        );
        for p in [&alice, &mallory] {
            assert_eq!(
                p.call(endpoint, &form).await.status(),
                StatusCode::FORBIDDEN,
                "{endpoint}"
            );
        }
        assert_eq!(
            admin.call(endpoint, &form).await.status(),
            StatusCode::OK,
            "{endpoint}"
        );
    }

    let (lab,): (String,) = sqlx::query_as("SELECT slug FROM labs ORDER BY id LIMIT 1")
        .fetch_one(&app.db)
        .await
        .expect("a lab is imported");
    let lab_form = vec![("course", COURSE), ("lab", lab.as_str())];
    for endpoint in ["labs/get", "labs/save", "labs/reset"] {
        check(endpoint);
        assert_eq!(
            anon.call(endpoint, &lab_form).await.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint}"
        );
        for p in [&alice, &mallory, &admin] {
            assert_eq!(
                p.call(endpoint, &lab_form).await.status(),
                StatusCode::OK,
                "{endpoint}"
            );
        }
    }
    check("labs/reveal");
    assert_eq!(
        anon.call("labs/reveal", &lab_form).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        alice.call("labs/reveal", &lab_form).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no graded runs yet"
    );
    check("labs/run");
    assert_eq!(
        anon.call("labs/run", &lab_form).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let run = Person::json(alice.call("labs/run", &lab_form).await)
        .await
        .as_i64()
        .expect("run id")
        .to_string();
    let run_form = vec![("run", run.as_str())];
    let query_form = vec![("run", run.as_str()), ("data", "any"), ("query", "up")];
    for (endpoint, form) in [
        ("labs/run-view", &run_form),
        ("labs/progress", &run_form),
        ("labs/query", &query_form),
        ("labs/cancel", &run_form),
    ] {
        check(endpoint);
        assert_eq!(
            anon.call(endpoint, form).await.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint}"
        );
        assert_eq!(
            mallory.call(endpoint, form).await.status(),
            StatusCode::NOT_FOUND,
            "{endpoint}: another learner's run"
        );
        let own = alice.call(endpoint, form).await.status();
        assert!(
            own == StatusCode::OK
                || own == StatusCode::UNPROCESSABLE_ENTITY
                || own == StatusCode::NOT_FOUND && endpoint == "labs/query",
            "{endpoint}: {own}"
        );
        assert_ne!(
            admin.call(endpoint, form).await.status(),
            StatusCode::FORBIDDEN,
            "{endpoint}"
        );
    }

    check("auth/change-password");
    assert_eq!(
        anon.change_password("x", "new password 5555")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        mallory
            .change_password("learner password 1", "mallory new pass")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.person()
            .login("alice@example.com", "learner password 1")
            .await
            .status(),
        StatusCode::OK,
        "mallory changed only her own"
    );

    // Authoring: administrators only; a learner is refused before anything is read.
    let module_path = "modules/01-why-load-test.md";
    let admin_id: i64 =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@example.com'")
            .fetch_one(&app.db)
            .await
            .expect("admin");
    let admin_id = admin_id.to_string();
    for (endpoint, form, admin_gets) in [
        (
            "admin/content/index",
            vec![("course", COURSE)],
            StatusCode::OK,
        ),
        (
            "admin/content/file",
            vec![("course", COURSE), ("path", module_path)],
            StatusCode::OK,
        ),
        (
            "admin/content/draft",
            vec![
                ("course", COURSE),
                ("path", module_path),
                ("text", "---\nbroken"),
                ("base_revision", "1"),
            ],
            StatusCode::OK,
        ),
        (
            "admin/content/save",
            vec![
                ("course", COURSE),
                ("path", module_path),
                ("text", "---\nbroken"),
                ("base_revision", "1"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "admin/content/discard",
            vec![("course", COURSE), ("path", module_path)],
            StatusCode::OK,
        ),
        (
            "admin/content/history",
            vec![("course", COURSE), ("path", module_path)],
            StatusCode::OK,
        ),
        (
            "admin/content/restore",
            vec![
                ("course", COURSE),
                ("path", module_path),
                ("revision", "999"),
            ],
            StatusCode::NOT_FOUND,
        ),
        (
            "admin/content/publish",
            vec![
                ("course", COURSE),
                ("path", "course.yaml"),
                ("publish", "true"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "admin/content/move",
            vec![
                ("course", COURSE),
                ("path", module_path),
                ("section", "No Such Section"),
                ("order", "1"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "admin/content/new-module",
            vec![
                ("course", COURSE),
                ("section", "load-testing-and-slos"),
                ("title", "  "),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("admin/audit", vec![], StatusCode::OK),
        ("admin/learners", vec![("q", "alice")], StatusCode::OK),
        (
            "admin/learners/role",
            vec![("user", admin_id.as_str()), ("admin", "false")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "admin/learners/reset",
            vec![("user", "999999"), ("course", COURSE), ("confirm", "yes")],
            StatusCode::NOT_FOUND,
        ),
        ("admin/analytics", vec![("course", COURSE)], StatusCode::OK),
        (
            "admin/content/test-lab",
            vec![("course", COURSE), ("lab", "../01-first-load-test")],
            StatusCode::NOT_FOUND,
        ),
    ] {
        check(endpoint);
        assert_eq!(
            anon.call(endpoint, &form).await.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint}"
        );
        assert_eq!(
            alice.call(endpoint, &form).await.status(),
            StatusCode::FORBIDDEN,
            "{endpoint}"
        );
        assert_eq!(
            admin.call(endpoint, &form).await.status(),
            admin_gets,
            "{endpoint}"
        );
    }

    check("auth/forgot-password");
    assert_eq!(
        anon.forgot_password("alice@example.com").await.status(),
        StatusCode::OK
    );

    check("auth/reset-password");
    assert_eq!(
        mallory
            .reset_password("guessed-token", "take over alice")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    check("auth/register");
    assert_eq!(
        anon.register("new@example.com", "New", "brand new password")
            .await
            .status(),
        StatusCode::OK
    );

    check("auth/login");
    assert_eq!(
        admin
            .login("alice@example.com", "wrong password x")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    check("auth/logout");
    assert_eq!(anon.logout().await.status(), StatusCode::OK);

    let mut registered: Vec<String> = server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    registered.sort();
    let mut covered: Vec<String> = covered.into_iter().map(str::to_string).collect();
    covered.sort();
    assert_eq!(
        registered, covered,
        "every server function has an authorization check here"
    );
}
on_both_backends!(authorization_matrix, authorization);

async fn pages(app: TestApp) {
    let anon = app.person();
    let home = anon.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let csp = home
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("'nonce-"),
        "{csp}"
    );
    assert_eq!(
        home.headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    let html = home.text().await.expect("body");
    assert!(html.contains("Performance Engineering Masterclass"));

    let overview = anon
        .get(&format!("/courses/{COURSE}"))
        .await
        .text()
        .await
        .expect("body");
    for s in [
        "Load testing and SLOs with k6",
        "Distributed database observability",
        "The roundtable",
        "Certification exam",
        "Lab: Your first load test",
    ] {
        assert!(overview.contains(s), "overview lacks {s}");
    }

    // Module pages need an account: visitors are sent to log in and come back.
    let r = anon.get(&format!("/courses/{COURSE}/{FIRST}")).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(&*format!("/login?next=/courses/{COURSE}/{FIRST}"))
    );

    let p = app.learner("ida@example.com").await;
    let page = p.get(&format!("/courses/{COURSE}/{FIRST}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("body");
    assert!(html.contains(r#"<track kind="captions""#), "captions track");
    assert!(html.contains(&format!("/media/{COURSE}/welcome.webm")));
    assert!(
        html.contains("Welcome to the Performance Engineering Masterclass."),
        "transcript"
    );
    assert!(
        html.contains(r#"<span class="tok-kw">export</span>"#),
        "highlighted code"
    );
    assert!(
        html.contains(r#"id="closed-and-open-workloads""#),
        "heading anchors"
    );
    let media = p.get(&format!("/media/{COURSE}/welcome.en.vtt")).await;
    assert_eq!(media.status(), StatusCode::OK);
    assert!(media.text().await.expect("vtt").starts_with("WEBVTT"));

    assert_eq!(
        anon.get("/no-such-page").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        anon.get("/courses/no-such-course").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        p.get(&format!("/courses/{COURSE}/no-such-module"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let metrics = anon.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("# TYPE masterclass_http_requests_total counter"));
    assert!(metrics.contains(r#"masterclass_http_requests_total{method="GET",route="/courses/{course}/{module}",status="200"}"#), "{metrics}");
    assert!(metrics.contains("masterclass_http_request_duration_seconds_bucket{"));

    let big = "x".repeat(2 * 1024 * 1024);
    let r = p
        .call("auth/login", &[("email", "a@b.cd"), ("password", &big)])
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
on_both_backends!(pages_headers_and_metrics, pages);

/// With JavaScript off, forms post and redirect back; errors travel in the URL.
async fn no_javascript_forms(app: TestApp) {
    let p = app.person();
    let r = p
        .form_post(
            "auth/register",
            &[
                ("email", "jo@example.com"),
                ("display_name", "Jo"),
                ("password", "jo password 123"),
                ("next", "/courses/x"),
            ],
            "/register",
        )
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/courses/x")
    );
    let r = p
        .form_post(
            "auth/login",
            &[("email", "jo@example.com"), ("password", "wrong password")],
            "/login",
        )
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // Back to the form's own clean address: no encoded error in it.
    assert_eq!(back, format!("{}/login", app.base));
    let flash = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("mc_form="))
        .expect("the failed form travels in a cookie");
    assert!(!flash.contains("wrong"), "never the password: {flash}");
    let page = p
        .get(back.trim_start_matches(&app.base))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("That email and password do not match an account."),
        "the error is shown on the form"
    );
    assert!(
        page.contains(r#"value="jo@example.com""#),
        "the email typed is kept"
    );
    assert!(!page.contains("wrong password"), "the password is not");
    // Said once: a reload is a clean form.
    let again = p.get("/login").await.text().await.expect("page");
    assert!(
        !again.contains("do not match an account"),
        "the error was said once"
    );
}
on_both_backends!(forms_without_javascript, no_javascript_forms);
