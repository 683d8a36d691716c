//! Configuration from environment variables (all optional; see the README).

use std::net::SocketAddr;
use std::path::PathBuf;

use app::state::{SmtpConfig, SmtpTls};

use crate::security::TrustedProxies;
use crate::serve::HttpLimits;

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
    /// Proxies whose `X-Forwarded-For` names the client (empty: none; the
    /// socket's peer is the client).
    pub trusted_proxies: TrustedProxies,
    /// Timeouts and the connection cap of the HTTP server.
    pub http: HttpLimits,
    /// Who may read `/metrics`, and where.
    pub metrics: MetricsAccess,
    /// How grading children are started and the OS limits they run under.
    pub lab_sandbox: lab_grader::sandbox::Sandbox,
}

/// How `/metrics` is protected: a bearer token, a listen address of its own, both or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsAccess {
    /// `MASTERCLASS_METRICS_TOKEN`: when set, `/metrics` wants `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `MASTERCLASS_METRICS_ADDR`: when set, `/metrics` is served there only.
    pub addr: Option<SocketAddr>,
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

/// A positive whole number of seconds from `name`, or `default`.
fn seconds(name: &str, default: std::time::Duration) -> anyhow::Result<std::time::Duration> {
    positive(name, default.as_secs(), "seconds").map(std::time::Duration::from_secs)
}

/// The HTTP server's limits from the environment.
fn http_limits() -> anyhow::Result<HttpLimits> {
    let d = HttpLimits::default();
    let max_connections = positive(
        "MASTERCLASS_MAX_CONNECTIONS",
        d.max_connections as u64,
        "connections",
    )? as usize;
    Ok(HttpLimits {
        header_timeout: seconds("MASTERCLASS_HEADER_TIMEOUT_SECS", d.header_timeout)?,
        body_timeout: seconds("MASTERCLASS_BODY_TIMEOUT_SECS", d.body_timeout)?,
        idle_timeout: seconds("MASTERCLASS_IDLE_TIMEOUT_SECS", d.idle_timeout)?,
        max_connections,
    })
}

fn metrics_access() -> anyhow::Result<MetricsAccess> {
    let token = var("MASTERCLASS_METRICS_TOKEN").map(|t| t.trim().to_string());
    if token
        .as_ref()
        .is_some_and(|t| t.len() < 16 || t.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        anyhow::bail!("MASTERCLASS_METRICS_TOKEN must be at least 16 characters without spaces");
    }
    let addr = match var("MASTERCLASS_METRICS_ADDR") {
        None => None,
        Some(a) => Some(a.trim().parse().map_err(|e| {
            anyhow::anyhow!("MASTERCLASS_METRICS_ADDR must look like 127.0.0.1:9100 ({e})")
        })?),
    };
    Ok(MetricsAccess { token, addr })
}

/// A positive whole number from `name`, or `default` when it is unset.
fn positive(name: &str, default: u64, unit: &str) -> anyhow::Result<u64> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| anyhow::anyhow!("{name} must be a positive whole number of {unit}")),
    }
}

/// Grading children are this very binary in its hidden `lab-sandbox` mode,
/// under the limits an operator may set.
fn sandbox_from_env() -> anyhow::Result<lab_grader::sandbox::Sandbox> {
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find this program to start lab graders: {e}"))?;
    let mut sandbox = lab_grader::sandbox::Sandbox::new(exe, vec!["lab-sandbox".into()]);
    let limits = &mut sandbox.grade_limits;
    limits.memory_bytes = positive(
        "MASTERCLASS_LAB_MEMORY_MB",
        limits.memory_bytes >> 20,
        "megabytes",
    )? << 20;
    limits.cpu_secs = positive("MASTERCLASS_LAB_CPU_SECS", limits.cpu_secs, "seconds")?;
    limits.wall = seconds("MASTERCLASS_LAB_WALL_SECS", limits.wall)?;
    Ok(sandbox)
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
        let trusted_proxies =
            TrustedProxies::parse(&var("MASTERCLASS_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("MASTERCLASS_TRUSTED_PROXIES: {e}"))?;
        Ok(Settings {
            lab_sandbox: sandbox_from_env()?,
            trusted_proxies,
            http: http_limits()?,
            metrics: metrics_access()?,
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
