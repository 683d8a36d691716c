//! The certificate pages: the public certificate, claiming one after a passed exam,
//! the learner's list, verification, and the administrators' list with revocation.
//! Every form works with JavaScript off.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{
    admin_certificates, certificate_claim, get_certificate, my_certificates, verify_credential,
    CertificateRow, CertificateView, ClaimInfo, IssueCertificate, RevokeCertificate, VerifyReport,
};
use crate::layout::{form_error, load_error};

/// Unix milliseconds as `YYYY-MM-DD` (UTC), the same on server and browser.
fn date(ms: i64) -> String {
    crate::time::utc(ms)[..10].to_string()
}

/// `/certificates/:id`: the public certificate, for anyone.
#[component]
pub fn CertificatePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let data = Resource::new(id, get_certificate);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(c) => view! { <CertificateBody c /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn CertificateBody(c: CertificateView) -> impl IntoView {
    let status = if c.revoked {
        view! {
            <p class="cert-status revoked" role="status"><strong>"Revoked."</strong>" "{c.revoked_reason.clone().unwrap_or_default()}</p>
        }
        .into_any()
    } else if c.expired {
        // Not "valid" in any wording: someone skimming for that word must not find it.
        view! { <p class="cert-status expired" role="status"><strong>"Expired."</strong>" Issued by Masterclass and not revoked, but its period has ended."</p> }.into_any()
    } else {
        view! { <p class="cert-status valid" role="status"><strong>"Valid."</strong>" Issued by Masterclass and not revoked."</p> }.into_any()
    };
    let validity = c.valid_until_date.clone().map(|d| {
        let label = if c.expired {
            "Expired on "
        } else {
            "Valid until "
        };
        view! { <p class="cert-line">{label}<time datetime=d.clone()>{d.clone()}</time></p> }
    });
    let view_box = format!("0 0 {0} {0}", c.qr_size);
    view! {
        <Title text=format!("Certificate: {} · {}", c.recipient_name, c.course_title) />
        <article class="certificate" aria-labelledby="cert-title">
            <p class="cert-kicker">"Certificate of completion"</p>
            <h1 id="cert-title">{c.recipient_name.clone()}</h1>
            <p class="cert-line">"has passed the certification exam of"</p>
            <p class="cert-course">{c.course_title.clone()}</p>
            <p class="cert-line">"Issued "<time datetime=c.issued_date.clone()>{c.issued_date.clone()}</time>" by Masterclass"</p>
            {validity}
            {status}
            <div class="cert-foot">
                <dl class="cert-meta">
                    <dt>"Certificate ID"</dt><dd><code>{c.id.clone()}</code></dd>
                    <dt>"Public address"</dt><dd><a href=c.page_url.clone()>{c.page_url.clone()}</a></dd>
                    <dt>"Signing key"</dt><dd><code>{c.kid.clone()}</code></dd>
                </dl>
                <svg class="cert-qr" viewBox=view_box role="img" aria-label="QR code of this page's address">
                    <rect width="100%" height="100%" fill="#fff" />
                    <path d=c.qr_path.clone() fill="#000" />
                </svg>
            </div>
        </article>
        <section class="cert-actions no-print" aria-labelledby="cert-actions-title">
            <h2 id="cert-actions-title">"Share and download"</h2>
            <ul>
                <li><a href=format!("/certificates/{}/certificate.pdf", c.id) download>"Download the PDF"</a></li>
                <li><a href=format!("/certificates/{}/credential.jwt", c.id) download>"Download the signed credential (Open Badges 3.0, VC-JWT)"</a></li>
                <li><a href=c.linkedin_url.clone() rel="noopener">"Add to LinkedIn profile"</a></li>
            </ul>
            <h2>"How to verify it"</h2>
            <p>"This page is the issuer's own record: it says whether the certificate stands. The downloadable credential is signed with Ed25519 and checks without this site:"</p>
            <ul>
                <li>"Paste or upload it on the "<a href="/certificates/verify">"verification page"</a>"."</li>
                <li>"Or run "<code>"masterclass cert verify certificate.jwt"</code>", or check the JWS with any JOSE library against the keys at "<a href="/.well-known/jwks.json">"/.well-known/jwks.json"</a>"; revocation is published as a Bitstring Status List at "<a href="/status/revocation">"/status/revocation"</a>"."</li>
            </ul>
        </section>
    }
}

/// `/exam/:attempt/certificate`: confirm the name and receive the certificate.
#[component]
pub fn ClaimCertificatePage() -> impl IntoView {
    let params = use_params_map();
    let attempt = move || {
        params
            .read()
            .get("attempt")
            .and_then(|a| a.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let data = Resource::new(attempt, certificate_claim);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(c) => view! { <ClaimBody c /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ClaimBody(c: ClaimInfo) -> impl IntoView {
    let issue = ServerAction::<IssueCertificate>::new();
    let heading = if c.certificate.is_some() {
        "Your certificate"
    } else {
        "Receive your certificate"
    };
    view! {
        <Title text=heading />
        <nav aria-label="Breadcrumb" class="breadcrumb"><a href=format!("/courses/{}", c.course_slug)>{c.course_title.clone()}</a>" / "<a href=format!("/exam/{}/result", c.attempt)>"Exam result"</a></nav>
        <h1>{heading}</h1>
        {c.certificate.clone().map(|id| view! {
            <p>"Your certificate is issued: "<a href=format!("/certificates/{id}")>"open its public page"</a>". Correct the name below if it is wrong; the page keeps its address and the credential is signed again."</p>
        })}
        {c.certificate.is_none().then(|| view! {
            <p>{format!("You passed the {} exam. Confirm the name to print on your certificate; it is issued at once.", c.course_title)}</p>
        })}
        {form_error(issue.value())}
        <ActionForm action=issue attr:class="claim-form">
            <input type="hidden" name="attempt" value=c.attempt.to_string() />
            <label class="field">"Name on certificate"
                <input type="text" name="name" value=c.default_name.clone() required maxlength="100" autocomplete="name" />
            </label>
            <button type="submit" class="button primary">{if c.certificate.is_some() { "Correct the name" } else { "Issue my certificate" }}</button>
        </ActionForm>
    }
}

/// `/certificates`: the learner's certificates and passed exams to claim.
#[component]
pub fn MyCertificatesPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| my_certificates());
    view! {
        <Title text="My certificates" />
        <h1>"My certificates"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(m) => view! {
                        {m.claimable.into_iter().map(|(attempt, title)| view! {
                            <p class="notice">{format!("You passed the {title} exam. ")}<a href=format!("/exam/{attempt}/certificate")>"Receive your certificate"</a></p>
                        }).collect_view()}
                        {m.issued.is_empty().then(|| view! { <p>"No certificates yet: pass a course's certification exam to earn one."</p> })}
                        <ul class="cert-list">
                            {m.issued.into_iter().map(|c| view! {
                                <li>
                                    <a href=format!("/certificates/{}", c.id)>{format!("{} — {}", c.course_title, c.recipient_name)}</a>
                                    {format!(" · issued {}", date(c.issued_at))}
                                    {c.valid_until.map(|t| format!(" · {} {}", if c.expired { "expired on" } else { "valid until" }, date(t)))}
                                    {c.revoked.then(|| view! { <strong class="revoked">" · revoked"</strong> })}
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
        <p><a href="/certificates/verify">"Verify a certificate"</a></p>
    }
}

/// `/certificates/verify`: paste or upload a credential; the server checks it.
#[component]
pub fn VerifyPage() -> impl IntoView {
    let query = use_query_map();
    let jwt = move || query.read().get("jwt").unwrap_or_default();
    let upload_error = move || match query.read().get("error").as_deref() {
        Some("nofile") => Some("Choose a credential file first."),
        Some("large") => Some("That file is far too large to be a credential."),
        _ => None,
    };
    let data = Resource::new(jwt, |j| async move {
        if j.trim().is_empty() {
            None
        } else {
            Some(verify_credential(j).await)
        }
    });
    view! {
        <Title text="Verify a certificate" />
        <h1>"Verify a certificate"</h1>
        <p>"Paste a certificate's credential (the contents of its "<code>".jwt"</code>" file), or upload the file. The server checks the signature against the issuer's published keys, the validity dates and the revocation list."</p>
        {move || upload_error().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
        <form method="get" action="/certificates/verify" class="verify-form">
            <label class="field" for="verify-jwt">"Credential (VC-JWT)"</label>
            <textarea id="verify-jwt" name="jwt" rows="8" required spellcheck="false" prop:value=jwt inner_html=move || crate::escape::textarea_html(&jwt())></textarea>
            <button type="submit" class="button primary">"Verify"</button>
        </form>
        <form method="post" action="/certificates/verify/upload" enctype="multipart/form-data" class="verify-form">
            <label class="field">"Or upload the credential file"
                <input type="file" name="file" accept=".jwt,application/vc+jwt,text/plain" required />
            </label>
            <button type="submit" class="button">"Upload and verify"</button>
        </form>
        <Suspense fallback=|| view! { <p>"Checking…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    None => ().into_any(),
                    Some(Ok(r)) => view! { <ReportView r /> }.into_any(),
                    Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ReportView(r: VerifyReport) -> impl IntoView {
    let (class, verdict) = if r.valid {
        (
            "verify-result valid",
            "Valid: this credential was issued by Masterclass, is intact, and is not revoked."
                .to_string(),
        )
    } else if r.revoked {
        (
            "verify-result revoked",
            "Revoked: the issuer has withdrawn this certificate.".to_string(),
        )
    } else if r.expired {
        (
            "verify-result expired",
            format!(
                "Expired: genuine, but {}.",
                r.reason.clone().unwrap_or_default()
            ),
        )
    } else {
        (
            "verify-result invalid",
            format!("Not valid: {}.", r.reason.clone().unwrap_or_default()),
        )
    };
    view! {
        <section class=class aria-labelledby="verify-outcome">
            <h2 id="verify-outcome">"Outcome"</h2>
            <p role="status"><strong>{verdict}</strong></p>
            {(r.recipient_name.is_some() || r.achievement.is_some()).then(|| view! {
                <p>{format!("Recipient: {} · Achievement: {}", r.recipient_name.clone().unwrap_or_else(|| "?".into()), r.achievement.clone().unwrap_or_else(|| "?".into()))}</p>
            })}
            <table class="admin-table">
                <thead><tr><th scope="col">"Check"</th><th scope="col">"Result"</th><th scope="col">"Detail"</th></tr></thead>
                <tbody>
                    {r.checks.into_iter().map(|c| view! {
                        <tr><td>{c.name}</td><td>{if c.ok { "passed" } else { "failed" }}</td><td>{c.detail}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// `/admin/certificates`: every certificate, with revocation.
#[component]
pub fn AdminCertificatesPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeCertificate>::new();
    let data = Resource::new(move || revoke.version().get(), |_| admin_certificates());
    view! {
        <Title text="Certificates" />
        <h1>"Certificates"</h1>
        {move || matches!(revoke.value().get(), Some(Ok(()))).then(|| view! { <p class="notice" role="status">"Certificate revoked."</p> })}
        {form_error(revoke.value())}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) => view! { <AdminList list revoke /> }.into_any(),
                    Err(e) => load_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AdminList(list: Vec<CertificateRow>, revoke: ServerAction<RevokeCertificate>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p>"No certificates have been issued yet."</p> }.into_any();
    }
    view! {
        <table class="admin-table">
            <thead><tr><th scope="col">"Issued"</th><th scope="col">"Recipient"</th><th scope="col">"Course"</th><th scope="col">"Status"</th><th scope="col">"Revoke"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|c| {
                    let field = format!("reason-{}", c.id);
                    view! {
                        <tr>
                            <td>{date(c.issued_at)}</td>
                            <td><a href=format!("/certificates/{}", c.id)>{c.recipient_name.clone()}</a><br />{c.email.clone().unwrap_or_default()}</td>
                            <td>{c.course_title.clone()}</td>
                            <td>{match (c.revoked, c.expired, c.valid_until) {
                                (true, _, _) => format!("Revoked: {}", c.revoked_reason.clone().unwrap_or_default()),
                                (false, true, Some(t)) => format!("Expired on {}", date(t)),
                                (false, false, Some(t)) => format!("Valid until {}", date(t)),
                                _ => "Valid".into(),
                            }}</td>
                            <td>
                                {(!c.revoked).then(|| view! {
                                    <ActionForm action=revoke attr:class="inline-form">
                                        <input type="hidden" name="id" value=c.id.clone() />
                                        <label for=field.clone()>{format!("Reason for revoking {}'s certificate", c.recipient_name)}</label>
                                        <input id=field.clone() type="text" name="reason" required maxlength="500" />
                                        <button type="submit" class="button">"Revoke"</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
