//! Password-reset mail goes out over real SMTP when it is configured.

mod support;

use reqwest::StatusCode;
use support::{Backend, TestApp};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A minimal SMTP server that accepts one message and hands back its text.
async fn smtp_sink() -> (u16, tokio::sync::oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink ESMTP\r\n").await.expect("greet");
        let mut message = String::new();
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    write.write_all(b"250 queued\r\n").await.expect("write");
                } else {
                    message.push_str(&line);
                    message.push('\n');
                }
                continue;
            }
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" | "HELO" => b"250 sink\r\n",
                "DATA" => {
                    in_data = true;
                    b"354 go ahead\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await.expect("write");
                    break;
                }
                _ => b"250 ok\r\n",
            };
            write.write_all(reply).await.expect("write");
        }
        let _ = tx.send(message);
    });
    (port, rx)
}

/// RFC 2045 quoted-printable: `=` at a line end joins lines, `=XX` is a byte.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn reset_link_arrives_by_smtp_and_works() {
    let (port, received) = smtp_sink().await;
    let app = TestApp::spawn_custom(Backend::Sqlite, |s| {
        s.public_url = "https://learn.example".into();
        s.smtp = Some(app::state::SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            username: None,
            password: None,
            from: "Masterclass <no-reply@learn.example>".into(),
            tls: app::state::SmtpTls::None,
        });
    })
    .await
    .expect("app");
    app.learner("lee@example.com").await;
    let anon = app.person();
    assert_eq!(
        anon.forgot_password("LEE@example.com").await.status(),
        StatusCode::OK
    );
    let message = tokio::time::timeout(std::time::Duration::from_secs(20), received)
        .await
        .expect("mail in time")
        .expect("mail");
    assert!(message.contains("To: lee@example.com"), "{message}");
    assert!(
        message.contains("Subject: Reset your Masterclass password"),
        "{message}"
    );
    // Long lines travel quoted-printable; read the body as a mail client would.
    let message = decode_quoted_printable(&message);
    let link = message
        .split_whitespace()
        .find(|w| w.starts_with("https://learn.example/reset-password?token="))
        .unwrap_or_else(|| panic!("no reset link in the mail:\n{message}"));
    let token = link.split("token=").nth(1).expect("token");
    let reset = anon.reset_password(token, "mailed new password").await;
    let status = reset.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "token {token:?}: {}",
        reset.text().await.unwrap_or_default()
    );
    assert_eq!(anon.me().await["email"], "lee@example.com");
}
