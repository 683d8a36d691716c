//! What every page shares: header with the account menu, footer, error views.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_location;

use crate::auth::{current_user, Logout, User};
use crate::error::AppError;

/// Site header: the name, the catalog, and who is signed in.
///
/// The server knows who is signed in before the page renders (see
/// `session::find_for_page`) and sends it along with the page; in the browser
/// the header asks again after each navigation or logout, so signing in or out
/// shows at once.
#[component]
pub fn Header() -> impl IntoView {
    let location = use_location();
    let logout = ServerAction::<Logout>::new();
    let user = RwSignal::new(SharedValue::new(signed_in).into_inner());
    let asked = StoredValue::new(0u64);
    Effect::new(move |first: Option<()>| {
        // Read, not only tracked: a memo nobody has read yet does not follow
        // its own sources, so it would never announce a navigation.
        let _ = (location.pathname.get(), logout.version().get());
        if first.is_some() {
            // Only the newest answer counts, whatever order they arrive in.
            let n = asked.try_update_value(|n| {
                *n += 1;
                *n
            });
            leptos::task::spawn_local(async move {
                if let Ok(u) = current_user().await {
                    if asked.try_get_value() == n {
                        user.try_set(u);
                    }
                }
            });
        }
    });
    // The account links sit in one box that ends, signed in or out, with a
    // button of the same size, so the header keeps one height either way; on a
    // phone that box is the header's second line (see `.site-header .account`).
    view! {
        <header class="site-header">
            <nav aria-label="Main">
                <a class="brand" href="/">"Masterclass"</a>
                <a href="/">"Courses"</a>
                <span class="spacer"></span>
                <div class="account">
                    {move || match user.get() {
                        Some(u) => view! {
                            {u.is_admin.then(|| view! {
                                <a href="/admin">"Admin"</a>
                                <a href="/admin/exam">"Exam admin"</a>
                                <a href="/admin/certificates">"Certificates admin"</a>
                            })}
                            <a href="/certificates">"My certificates"</a>
                            <a href="/account" class="who">{u.display_name}</a>
                            <ActionForm action=logout attr:class="inline">
                                <button type="submit" class="button">"Log out"</button>
                            </ActionForm>
                        }.into_any(),
                        None => view! {
                            <a href="/login">"Log in"</a>
                            <a href="/register" class="button">"Sign up"</a>
                        }.into_any(),
                    }}
                </div>
            </nav>
        </header>
    }
}

/// Who the server found signed in for this page; in the browser, only when the
/// page came without it (the header then asks on the next navigation).
fn signed_in() -> Option<User> {
    #[cfg(feature = "ssr")]
    {
        crate::auth::session::known_user()
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// Site footer.
#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <p>"Masterclass — the Performance Engineering Masterclass, self-hosted."</p>
        </footer>
    }
}

/// The page for a path that does not exist; answers 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::set_status(404);
    view! {
        <Title text="Not found" />
        <h1>"Page not found"</h1>
        <p>"There is nothing at this address. "<a href="/">"Back to the courses"</a></p>
    }
}

/// Shows an error from a server function, with its HTTP status on the server.
#[component]
pub fn ErrorView(error: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::set_status(error.status());
    let title = match error {
        AppError::NotFound => "Not found",
        AppError::Unauthorized => "Please log in",
        AppError::Forbidden => "Not allowed",
        _ => "Something went wrong",
    };
    view! {
        <Title text=title />
        <h1>{title}</h1>
        <p role="alert">{error.to_string()}</p>
        <p><a href="/">"Back to the courses"</a></p>
    }
}

/// What a page shows when its data cannot load: the login page (coming back
/// afterwards) for a visitor who is not signed in, otherwise the error.
pub fn load_error(e: AppError) -> AnyView {
    match e {
        AppError::Unauthorized => {
            let next = leptos_router::hooks::use_location()
                .pathname
                .get_untracked();
            view! { <leptos_router::components::Redirect path=format!("/login?next={next}") /> }
                .into_any()
        }
        e => view! { <ErrorView error=e /> }.into_any(),
    }
}

/// A server action's error, shown next to its form.
pub fn form_error<T: Clone + Send + Sync + 'static>(
    value: MappedSignal<Option<Result<T, AppError>>>,
) -> impl IntoView {
    move || {
        value
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Response details only the server sets.
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;

    /// Sets the status of the page being rendered.
    pub fn set_status(code: u16) {
        if let (Some(opts), Ok(code)) = (
            use_context::<ResponseOptions>(),
            axum::http::StatusCode::from_u16(code),
        ) {
            opts.set_status(code);
        }
    }

    /// A policy that allows this page's own scripts (by nonce), its wasm, and
    /// the two video providers; nothing may frame the site.
    pub fn set_content_security_policy() {
        let nonce = leptos::nonce::use_nonce()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
             media-src 'self'; frame-src https://www.youtube-nocookie.com https://player.vimeo.com; connect-src 'self'; \
             object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        );
        if let (Some(opts), Ok(value)) = (
            use_context::<ResponseOptions>(),
            axum::http::HeaderValue::from_str(&policy),
        ) {
            opts.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}
