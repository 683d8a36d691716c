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
        None => {
            // The links on a line of their own as a field, so a reader (or a script)
            // can copy one from the log without the escaped text that follows it.
            let links = links_in(body);
            tracing::info!(
                to,
                subject,
                links = %links,
                body,
                "email not sent (no SMTP configured); its text follows"
            )
        }
        Some(smtp) => {
            if let Err(e) = send_smtp(smtp, to, subject, body).await {
                tracing::error!(to, subject, error = %e, "sending email failed");
            }
        }
    }
}

/// The web addresses in a mail's text, space-separated.
fn links_in(body: &str) -> String {
    body.split_whitespace()
        .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
        .collect::<Vec<_>>()
        .join(" ")
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_mails_links_are_found_whole() {
        let body = "Open this link within an hour:\nhttp://x/reset-password?token=abc\n\nIf it was not you, ignore it.";
        assert_eq!(super::links_in(body), "http://x/reset-password?token=abc");
        assert_eq!(super::links_in("no link here"), "");
    }
}
