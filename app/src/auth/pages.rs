//! Sign-in, sign-up, account and password-reset pages.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use super::{current_user, ChangePassword, Login, Register, RequestPasswordReset, ResetPassword};
use crate::layout::form_error;

/// The page to come back to: the `next` query parameter when it is a path on
/// this site (see [`super::safe_next`]), otherwise `/`.
fn next_param() -> impl Fn() -> String + Copy {
    let query = use_query_map();
    move || super::safe_next(query.read().get("next").as_deref())
}

/// `/login`
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let next = next_param();
    view! {
        <Title text="Log in" />
        <div class="narrow">
            <h1>"Log in"</h1>
            <ActionForm action=login attr:class="stack">
                <label for="login-email">"Email"</label>
                <input id="login-email" type="email" name="email" required autocomplete="username" />
                <label for="login-password">"Password"</label>
                <input id="login-password" type="password" name="password" required autocomplete="current-password" />
                <input type="hidden" name="next" value=next />
                <button type="submit" class="button primary">"Log in"</button>
            </ActionForm>
            {form_error(login.value())}
            <p>"New here? "<a href=move || format!("/register?next={}", super::query_value(&next()))>"Create an account"</a>". "
               <a href="/forgot-password">"Forgot your password?"</a></p>
        </div>
    }
}

/// `/register`
#[component]
pub fn RegisterPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let next = next_param();
    view! {
        <Title text="Sign up" />
        <div class="narrow">
            <h1>"Create your account"</h1>
            <ActionForm action=register attr:class="stack">
                <label for="reg-email">"Email"</label>
                <input id="reg-email" type="email" name="email" required autocomplete="email" />
                <label for="reg-name">"Display name"</label>
                <input id="reg-name" type="text" name="display_name" required maxlength="80" autocomplete="name" aria-describedby="reg-name-hint" />
                <p id="reg-name-hint" class="hint">"Shown on your certificate."</p>
                <label for="reg-password">"Password"</label>
                <input id="reg-password" type="password" name="password" required minlength="10" maxlength="128" autocomplete="new-password" aria-describedby="reg-password-hint" />
                <p id="reg-password-hint" class="hint">"At least 10 characters; a few words make a good one."</p>
                <input type="hidden" name="next" value=next />
                <button type="submit" class="button primary">"Create account"</button>
            </ActionForm>
            {form_error(register.value())}
            <p>"Already have an account? "<a href=move || format!("/login?next={}", super::query_value(&next()))>"Log in"</a></p>
        </div>
    }
}

/// `/account`: change password.
#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let user = Resource::new(|| (), |_| current_user());
    let query = use_query_map();
    let changed = move || query.read().get("changed").is_some();
    view! {
        <Title text="Your account" />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) => view! {
                        <div class="narrow">
                            <h1>"Your account"</h1>
                            <p>{format!("Signed in as {} <{}>.", u.display_name, u.email)}</p>
                            <h2>"Change your password"</h2>
                            {move || changed().then(|| view! { <p class="notice" role="status">"Your password was changed. Other devices have been signed out."</p> })}
                            <ActionForm action=change attr:class="stack">
                                <label for="cur-password">"Current password"</label>
                                <input id="cur-password" type="password" name="current_password" required autocomplete="current-password" />
                                <label for="new-password">"New password"</label>
                                <input id="new-password" type="password" name="new_password" required minlength="10" maxlength="128" autocomplete="new-password" />
                                <button type="submit" class="button primary">"Change password"</button>
                            </ActionForm>
                            {form_error(change.value())}
                        </div>
                    }.into_any(),
                    _ => view! { <Redirect path="/login?next=/account" /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `/forgot-password`
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let request = ServerAction::<RequestPasswordReset>::new();
    let query = use_query_map();
    let sent = move || query.read().get("sent").is_some();
    view! {
        <Title text="Reset your password" />
        <div class="narrow">
            <h1>"Reset your password"</h1>
            {move || sent().then(|| view! { <p class="notice" role="status">"If that email has an account, a reset link is on its way. It works for one hour."</p> })}
            <ActionForm action=request attr:class="stack">
                <label for="forgot-email">"Email"</label>
                <input id="forgot-email" type="email" name="email" required autocomplete="email" />
                <button type="submit" class="button primary">"Send reset link"</button>
            </ActionForm>
            {form_error(request.value())}
        </div>
    }
}

/// `/reset-password?token=…`
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let reset = ServerAction::<ResetPassword>::new();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    view! {
        <Title text="Choose a new password" />
        <div class="narrow">
            <h1>"Choose a new password"</h1>
            <ActionForm action=reset attr:class="stack">
                <input type="hidden" name="token" value=token />
                <label for="reset-password">"New password"</label>
                <input id="reset-password" type="password" name="new_password" required minlength="10" maxlength="128" autocomplete="new-password" />
                <button type="submit" class="button primary">"Set password"</button>
            </ActionForm>
            {form_error(reset.value())}
        </div>
    }
}
