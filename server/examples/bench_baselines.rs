//! Baselines for `scripts/bench`: a trivial Leptos page and a bare axum handler
//! that returns the same bytes as a module page, served by one process.
//!
//! Usage: bench_baselines ADDR MODULE_PAGE.html

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use leptos_router::components::{Route, Router as LeptosRouter, Routes};
use leptos_router::path;

#[component]
fn Trivial() -> impl IntoView {
    view! {
        <LeptosRouter>
            <Routes fallback=|| "not found">
                <Route path=path!("/trivial") view=|| view! { <h1>"Hello"</h1><p>"A trivial Leptos page."</p> } />
            </Routes>
        </LeptosRouter>
    }
}

fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head><meta charset="utf-8" /><HydrationScripts options /></head>
            <body><Trivial /></body>
        </html>
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3999".into());
    let page = std::fs::read_to_string(
        args.next()
            .expect("usage: bench_baselines ADDR MODULE_PAGE.html"),
    )?;
    let options = LeptosOptions::builder().output_name("bench").build();
    let routes = generate_route_list(Trivial);
    let leptos = Router::new()
        .leptos_routes(&options, routes, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .with_state(options);
    let app = Router::new()
        .route(
            "/bare",
            get(move || {
                let page = page.clone();
                async move { Html(page) }
            }),
        )
        .merge(leptos);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
