//! Configuration from environment variables (all optional; see the README).

use std::net::SocketAddr;
use std::path::PathBuf;

use app::state::{SmtpConfig, SmtpTls};

/// Everything the server reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub addr: SocketAddr,
    pub database_url: String,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub public_url: String,
    pub content_dir: PathBuf,
    pub site_dir: PathBuf,
    pub smtp: Option<SmtpConfig>,
    /// PostgreSQL schema for the session table (tests use one per test).
    pub session_schema: String,
    /// Lab runs graded at once by this instance (0: none, the queue only fills).
    pub lab_workers: usize,
    /// Accounts that may be created from one address per hour (a classroom
    /// behind one NAT address needs more than the default).
    pub signups_per_hour: usize,
    /// How long a lab run stays leased to this instance without a renewal: a
    /// run whose instance died is taken over by another after this long.
    pub lab_lease: std::time::Duration,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where cargo-leptos put the compiled site: next to the binary's target folder.
fn default_site_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()
                .and_then(|bin_dir| bin_dir.parent())
                .map(|target| target.join("site"))
        })
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("target/site"))
}

/// The public URL as links need it: `http(s)://host[:port][/path]`, nothing more.
fn check_public_url(raw: &str) -> anyhow::Result<String> {
    let bad = |why: &str| {
        anyhow::anyhow!("MASTERCLASS_PUBLIC_URL {raw:?} {why}; expected something like https://masterclass.example.org")
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("must not carry a query, a fragment or a user name"));
    }
    Ok(raw.trim().to_string())
}

impl Settings {
    /// Reads the environment; a malformed value is an error naming the variable.
    pub fn from_env() -> anyhow::Result<Settings> {
        let data_dir =
            PathBuf::from(var("MASTERCLASS_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let addr: SocketAddr = var("MASTERCLASS_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| anyhow::anyhow!("MASTERCLASS_ADDR must look like 127.0.0.1:3000 ({e})"))?;
        let database_url = var("DATABASE_URL").unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("masterclass.db").display()
            )
        });
        if app::db::Backend::from_url(&database_url).is_none() {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres:");
        }
        let public_url = match var("MASTERCLASS_PUBLIC_URL") {
            Some(u) => check_public_url(&u)?,
            None => format!("http://{addr}"),
        };
        let smtp = match var("MASTERCLASS_SMTP_HOST") {
            None => None,
            Some(host) => {
                let tls = match var("MASTERCLASS_SMTP_TLS").as_deref().unwrap_or("starttls") {
                    "starttls" => SmtpTls::StartTls,
                    "tls" => SmtpTls::Tls,
                    "none" => SmtpTls::None,
                    other => anyhow::bail!(
                        "MASTERCLASS_SMTP_TLS must be starttls, tls or none, not {other:?}"
                    ),
                };
                let default_port = match tls {
                    SmtpTls::StartTls => 587,
                    SmtpTls::Tls => 465,
                    SmtpTls::None => 25,
                };
                let port = match var("MASTERCLASS_SMTP_PORT") {
                    Some(p) => p.parse().map_err(|_| {
                        anyhow::anyhow!("MASTERCLASS_SMTP_PORT must be a port number")
                    })?,
                    None => default_port,
                };
                Some(SmtpConfig {
                    host,
                    port,
                    username: var("MASTERCLASS_SMTP_USERNAME"),
                    password: var("MASTERCLASS_SMTP_PASSWORD"),
                    from: var("MASTERCLASS_SMTP_FROM")
                        .unwrap_or_else(|| "Masterclass <no-reply@localhost>".into()),
                    tls,
                })
            }
        };
        let lab_workers = match var("MASTERCLASS_LAB_WORKERS") {
            Some(n) => n.parse().map_err(|_| {
                anyhow::anyhow!("MASTERCLASS_LAB_WORKERS must be a whole number of workers")
            })?,
            // One per core: a simulated run keeps a core busy.
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        let signups_per_hour = match var("MASTERCLASS_SIGNUPS_PER_HOUR") {
            Some(n) => n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                anyhow::anyhow!("MASTERCLASS_SIGNUPS_PER_HOUR must be a positive whole number")
            })?,
            None => 20,
        };
        let lab_lease = match var("MASTERCLASS_LAB_LEASE_SECS") {
            Some(n) => n
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "MASTERCLASS_LAB_LEASE_SECS must be a positive whole number of seconds"
                    )
                })?,
            None => app::labs::worker::DEFAULT_LEASE,
        };
        Ok(Settings {
            lab_workers,
            lab_lease,
            signups_per_hour,
            addr,
            database_url,
            admin_email: var("MASTERCLASS_ADMIN_EMAIL"),
            admin_password: var("MASTERCLASS_ADMIN_PASSWORD"),
            public_url: public_url.trim_end_matches('/').to_string(),
            content_dir: PathBuf::from(
                var("MASTERCLASS_CONTENT_DIR").unwrap_or_else(|| "./content".into()),
            ),
            site_dir: var("MASTERCLASS_SITE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(default_site_dir),
            smtp,
            session_schema: var("MASTERCLASS_SESSION_SCHEMA")
                .unwrap_or_else(|| "tower_sessions".into()),
            data_dir,
        })
    }

    /// Cookies get `Secure` when the public URL is HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }
}
