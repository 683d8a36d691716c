//! Outgoing mail: SMTP when configured, the server log otherwise.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::state::{Config, SmtpConfig, SmtpTls};

/// Sends a plain-text email. Failures are logged, never shown: the person
/// asking must not learn whether an address exists.
pub async fn send(config: &Config, to: &str, subject: &str, body: &str) {
    match &config.smtp {
        None => tracing::info!(
            to,
            subject,
            body,
            "email not sent (no SMTP configured); its text follows"
        ),
        Some(smtp) => {
            if let Err(e) = send_smtp(smtp, to, subject, body).await {
                tracing::error!(to, subject, error = %e, "sending email failed");
            }
        }
    }
}

/// Sends in the background: the request that causes the mail answers at
/// once, so how long it takes tells nothing about the address.
pub fn send_later(config: std::sync::Arc<Config>, to: String, subject: String, body: String) {
    tokio::spawn(async move {
        send(&config, &to, &subject, &body).await;
    });
}

async fn send_smtp(
    smtp: &SmtpConfig,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let from: Mailbox = smtp.from.parse()?;
    let to: Mailbox = to.parse()?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())?;
    let builder = match smtp.tls {
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
    };
    let mut builder = builder.port(smtp.port);
    if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    builder.build().send(message).await?;
    Ok(())
}
