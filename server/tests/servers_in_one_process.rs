//! Several servers in one process, as the tests build them: building one must
//! not stall the pages another is rendering. Listing the app's routes switches
//! resource loading off process-wide, and a page resource first polled in that
//! moment used to wait forever (leptos-rs/leptos#4773); the list is now made once.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use support::{Backend, TestApp, COURSE, FIRST};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_a_server_does_not_stall_pages_being_rendered() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for i in 0..4 {
        let learner = app.learner(&format!("reader{i}@example.com")).await;
        let done = done.clone();
        readers.push(tokio::spawn(async move {
            let mut pages = 0u32;
            while !done.load(Ordering::SeqCst) {
                // Each GET fails the test if it gets no answer within 60 s.
                let r = learner.get(&format!("/courses/{COURSE}/{FIRST}")).await;
                assert_eq!(r.status(), StatusCode::OK);
                assert!(r.text().await.expect("body").contains("</html>"));
                pages += 1;
            }
            pages
        }));
    }
    let mut settings = app.settings.clone();
    settings.lab_workers = 0;
    for _ in 0..40 {
        masterclass::startup::build(&settings, app.db.clone(), Default::default())
            .await
            .expect("another server");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::SeqCst);
    let mut pages = 0;
    for r in readers {
        pages += r.await.expect("reader");
    }
    assert!(pages >= 4, "every reader got its page");
}
