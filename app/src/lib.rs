//! The Masterclass web app: pages and server functions, by domain.

pub mod admin;
pub mod assets;
pub mod auth;
pub mod certs;
pub mod course;
#[cfg(feature = "ssr")]
pub mod db;
pub mod error;
pub mod escape;
pub mod exam;
pub mod labs;
pub mod layout;
#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod row_cache;
pub mod shared_html;
#[cfg(feature = "ssr")]
pub mod state;
pub mod time;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{FlatRoutes, Route, Router};
use leptos_router::{path, SsrMode};

/// The HTML document around every page.
pub fn shell(options: &LeptosOptions) -> impl IntoView {
    let links = assets::links(options);
    #[cfg(feature = "ssr")]
    layout::ssr::set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="data:," />
                <assets::Assets links />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: header, routes, footer.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser: this marks the page as hydrated (browser tests wait for it).
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        // leptos_meta writes the formatted title into the page unescaped: escape it here.
        <Title formatter=|t: String| escape::title_text(if t.is_empty() { "Masterclass".to_string() } else { format!("{t} · Masterclass") }) />
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <layout::Header />
            <main id="main" tabindex="-1">
                <FlatRoutes fallback=layout::NotFound>
                    <Route path=path!("/") view=course::pages::Catalog ssr=SsrMode::Async />
                    <Route path=path!("/courses/:course") view=course::pages::Overview ssr=SsrMode::Async />
                    <Route path=path!("/courses/:course/exam") view=exam::pages::ExamHome ssr=SsrMode::Async />
                    <Route path=path!("/courses/:course/:module") view=course::pages::Module ssr=SsrMode::Async />
                    <Route path=path!("/courses/:course/labs/:lab") view=labs::pages::LabPage ssr=SsrMode::Async />
                    <Route path=path!("/courses/:course/labs/:lab/runs/:run") view=labs::pages::RunPage ssr=SsrMode::Async />
                    <Route path=path!("/exam/:attempt") view=exam::pages::ExamSummary ssr=SsrMode::Async />
                    <Route path=path!("/exam/:attempt/q/:position") view=exam::pages::ExamQuestion ssr=SsrMode::Async />
                    <Route path=path!("/exam/:attempt/result") view=exam::pages::ExamResultPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/exam") view=exam::admin_pages::AdminExamIndex ssr=SsrMode::Async />
                    <Route path=path!("/admin/exam/:course") view=exam::admin_pages::AdminBlueprintPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/exam/:course/attempts") view=exam::admin_pages::AdminAttemptsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/exam/:course/statistics") view=exam::admin_pages::AdminStatisticsPage ssr=SsrMode::Async />
                    <Route path=path!("/certificates") view=certs::pages::MyCertificatesPage ssr=SsrMode::Async />
                    <Route path=path!("/certificates/verify") view=certs::pages::VerifyPage ssr=SsrMode::Async />
                    <Route path=path!("/certificates/:id") view=certs::pages::CertificatePage ssr=SsrMode::Async />
                    <Route path=path!("/exam/:attempt/certificate") view=certs::pages::ClaimCertificatePage ssr=SsrMode::Async />
                    <Route path=path!("/admin/certificates") view=certs::pages::AdminCertificatesPage ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=admin::pages::AdminHome ssr=SsrMode::Async />
                    <Route path=path!("/admin/audit") view=admin::pages::AuditPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/learners") view=admin::pages::LearnersPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/analytics/:course") view=admin::pages::AnalyticsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/content/:course") view=admin::pages::ContentPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/content/:course/edit") view=admin::pages::EditorPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/content/:course/history") view=admin::pages::HistoryPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/content/:course/test-lab") view=admin::pages::LabTestPage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=auth::pages::LoginPage ssr=SsrMode::Async />
                    <Route path=path!("/register") view=auth::pages::RegisterPage ssr=SsrMode::Async />
                    <Route path=path!("/account") view=auth::pages::AccountPage ssr=SsrMode::Async />
                    <Route path=path!("/forgot-password") view=auth::pages::ForgotPasswordPage ssr=SsrMode::Async />
                    <Route path=path!("/reset-password") view=auth::pages::ResetPasswordPage ssr=SsrMode::Async />
                </FlatRoutes>
            </main>
            <layout::Footer />
        </Router>
    }
}
