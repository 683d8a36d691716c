//! Sign-in, sign-up, account and password-reset pages.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use super::form_flash::{use_form_flash, FormFlash};
use super::{current_user, ChangePassword, Login, Register, RequestPasswordReset, ResetPassword};
use crate::layout::form_error;

/// What the password rules say, under every field that sets a password.
const PASSWORD_RULES: &str = "At least 10 characters (up to 128); a few words make a good one.";

/// A form that failed without JavaScript: its error, as text, where the form is.
fn flash_error(flash: &Option<FormFlash>) -> impl IntoView {
    flash
        .as_ref()
        .map(|f| view! { <p class="form-error" role="alert">{f.error.clone()}</p> })
}

/// What was typed in `name` before the form failed without JavaScript.
fn kept(flash: &Option<FormFlash>, name: &str) -> String {
    flash.as_ref().map(|f| f.field(name)).unwrap_or_default()
}

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
    let flash = use_form_flash();
    view! {
        <Title text="Log in" />
        <div class="narrow">
            <h1>"Log in"</h1>
            {flash_error(&flash)}
            <ActionForm action=login attr:class="stack">
                <label for="login-email">"Email"</label>
                <input id="login-email" type="email" name="email" required autocomplete="username" value=kept(&flash, "email") />
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
    let flash = use_form_flash();
    view! {
        <Title text="Sign up" />
        <div class="narrow">
            <h1>"Create your account"</h1>
            {flash_error(&flash)}
            <ActionForm action=register attr:class="stack">
                <label for="reg-email">"Email"</label>
                <input id="reg-email" type="email" name="email" required autocomplete="email" value=kept(&flash, "email") />
                <label for="reg-name">"Display name"</label>
                <input id="reg-name" type="text" name="display_name" required maxlength="80" autocomplete="name" aria-describedby="reg-name-hint" value=kept(&flash, "display_name") />
                <p id="reg-name-hint" class="hint">"Shown on your certificate."</p>
                <label for="reg-password">"Password"</label>
                <input id="reg-password" type="password" name="password" required minlength="10" maxlength="128" autocomplete="new-password" aria-describedby="reg-password-hint" />
                <p id="reg-password-hint" class="hint">{PASSWORD_RULES}</p>
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
    let reset = move || query.read().get("reset").is_some();
    let flash = use_form_flash();
    view! {
        <Title text="Your account" />
        <Suspense fallback=|| ()>
            {move || { let flash = flash.clone(); Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) => view! {
                        <div class="narrow">
                            <h1>"Your account"</h1>
                            <p>{format!("Signed in as {} <{}>.", u.display_name, u.email)}</p>
                            <h2>"Change your password"</h2>
                            {move || reset().then(|| view! { <p class="notice" role="status">"Your new password is set and you are signed in. Other devices have been signed out."</p> })}
                            {move || changed().then(|| view! { <p class="notice" role="status">"Your password was changed. Other devices have been signed out."</p> })}
                            {flash_error(&flash)}
                            <ActionForm action=change attr:class="stack">
                                <label for="cur-password">"Current password"</label>
                                <input id="cur-password" type="password" name="current_password" required autocomplete="current-password" />
                                <label for="new-password">"New password"</label>
                                <input id="new-password" type="password" name="new_password" required minlength="10" maxlength="128" autocomplete="new-password" aria-describedby="new-password-hint" />
                                <p id="new-password-hint" class="hint">{PASSWORD_RULES}</p>
                                <button type="submit" class="button primary">"Change password"</button>
                            </ActionForm>
                            {form_error(change.value())}
                        </div>
                    }.into_any(),
                    _ => view! { <Redirect path="/login?next=/account" /> }.into_any(),
                }
            }) }}
        </Suspense>
    }
}

/// `/forgot-password`
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let request = ServerAction::<RequestPasswordReset>::new();
    let query = use_query_map();
    let sent = move || query.read().get("sent").is_some();
    let flash = use_form_flash();
    view! {
        <Title text="Reset your password" />
        <div class="narrow">
            <h1>"Reset your password"</h1>
            {move || sent().then(|| view! { <p class="notice" role="status">"If that email has an account, a reset link is on its way. It works for one hour."</p> })}
            {flash_error(&flash)}
            <ActionForm action=request attr:class="stack">
                <label for="forgot-email">"Email"</label>
                <input id="forgot-email" type="email" name="email" required autocomplete="email" value=kept(&flash, "email") />
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
    let flash = use_form_flash();
    view! {
        <Title text="Choose a new password" />
        <div class="narrow">
            <h1>"Choose a new password"</h1>
            {flash_error(&flash)}
            <ActionForm action=reset attr:class="stack">
                <input type="hidden" name="token" value=token />
                <label for="reset-password">"New password"</label>
                <input id="reset-password" type="password" name="new_password" required minlength="10" maxlength="128" autocomplete="new-password" aria-describedby="reset-password-hint" />
                <p id="reset-password-hint" class="hint">{PASSWORD_RULES}</p>
                <button type="submit" class="button primary">"Set password"</button>
            </ActionForm>
            {form_error(reset.value())}
        </div>
    }
}
