//! The command line: `serve`, `migrate`, `admin`, `content`.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup;

/// Masterclass: the Performance Engineering Masterclass, self-hosted.
///
/// Configuration comes from environment variables (MASTERCLASS_DATA_DIR,
/// MASTERCLASS_ADDR, DATABASE_URL, MASTERCLASS_ADMIN_EMAIL, MASTERCLASS_ADMIN_PASSWORD,
/// MASTERCLASS_PUBLIC_URL, MASTERCLASS_SMTP_*); see the README.
#[derive(Debug, Parser)]
#[command(name = "masterclass", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate, import content, make sure an admin exists, and serve the app.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Copy the SQLite database to FILE while the server keeps running (consistent snapshot).
    Backup {
        /// The backup file to write (it must not exist unless --force).
        file: std::path::PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the SQLite database with a backup made by `masterclass backup` (server stopped).
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
        /// Replace an existing database (it is kept under a dated name).
        #[arg(long)]
        force: bool,
    },
    /// Manage administrator accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Import course content from the content folder.
    #[command(subcommand)]
    Content(ContentCommand),
    /// Import or export the exam question bank in Moodle's GIFT format.
    #[command(subcommand)]
    Questions(QuestionsCommand),
    /// Certificates: verify a credential, rotate the signing key.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Run k6-style load-test scripts against the toy service.
    #[command(subcommand)]
    Lab(lab_engine::cli::LabCommand),
    /// The QuickPizza-compatible toy service the labs test.
    #[command(subcommand)]
    Toy(lab_engine::cli::ToyCommand),
    /// Evaluate PromQL and run promqltest files.
    #[command(subcommand)]
    Promql(slo_toolkit::cli::PromqlCommand),
    /// SLO specs to burn-rate rules, alert replays and quality gates.
    #[command(subcommand)]
    Slo(slo_toolkit::cli::SloCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator account (the password is generated and printed if not given).
    Create {
        /// The administrator's email address.
        #[arg(long)]
        email: String,
        /// The name shown on pages.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// The password; prefer MASTERCLASS_ADMIN_PASSWORD so it stays out of shell history.
        #[arg(long, env = "MASTERCLASS_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Make an existing account an administrator.
    Promote {
        /// The account's email address.
        email: String,
    },
    /// Print a one-hour password-reset link for an account.
    ResetLink {
        /// The account's email address.
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Check a certificate's credential (a VC-JWT file): signature, issuer key, dates, revocation.
    Verify {
        /// The credential file (as downloaded from the certificate's page).
        file: std::path::PathBuf,
        /// Check against this JWKS file instead of fetching the issuer's.
        #[arg(long)]
        jwks: Option<std::path::PathBuf>,
        /// Do not fetch anything: needs --jwks; the revocation status is not checked.
        #[arg(long)]
        offline: bool,
    },
    /// Make a new signing key the active one; earlier keys stay published.
    RotateKey,
}

#[derive(Debug, Subcommand)]
pub enum ContentCommand {
    /// Import every course under the content folder (idempotent; broken files are reported and skipped).
    Import {
        /// The content folder (default: MASTERCLASS_CONTENT_DIR or ./content).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Make a short narrated video of each module's key takeaways (espeak-ng, ffmpeg,
    /// rsvg-convert) into the data dir's media/<course>/generated/; skipped when the tools are missing.
    Videos {
        /// The content folder (default: MASTERCLASS_CONTENT_DIR or ./content).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Only the module with this slug.
        #[arg(long)]
        module: Option<String>,
        /// Remake videos whose script has not changed.
        #[arg(long)]
        force: bool,
    },
    /// Write the database's courses back to the content folder, byte for byte
    /// (stops, writing nothing, when a file changed on both sides since the last sync).
    Export {
        /// The content folder (default: MASTERCLASS_CONTENT_DIR or ./content).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuestionsCommand {
    /// Import a GIFT file into the question bank (all or nothing; a changed question gets a new version).
    Import {
        /// The GIFT file.
        file: std::path::PathBuf,
        /// The course whose bank it goes to (default: the only course).
        #[arg(long)]
        course: Option<String>,
    },
    /// Write the question bank as GIFT to standard output.
    Export {
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
        /// The course whose bank to export (default: the only course).
        #[arg(long)]
        course: Option<String>,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let json = std::env::var("MASTERCLASS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The lab tools' exit codes (k6 uses 99, 107, …) pass through unchanged.
fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(1)
}

/// Runs a command and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    // The lab tools print for people and scripts; they keep their own output quiet.
    match cli.command {
        Command::Cert(CertCommand::Verify {
            file,
            jwks,
            offline,
        }) => return cert_verify(&file, jwks.as_deref(), offline).await,
        Command::Lab(cmd) => return exit_code(lab_engine::cli::run_lab_command(cmd).await),
        Command::Toy(cmd) => return exit_code(lab_engine::cli::run_toy_command(cmd).await),
        Command::Promql(cmd) => return exit_code(slo_toolkit::cli::run_promql_command(cmd)),
        Command::Slo(cmd) => return exit_code(slo_toolkit::cli::run_slo_command(cmd)),
        _ => {}
    }
    init_tracing();
    match run_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

async fn run_inner(cli: Cli) -> anyhow::Result<u8> {
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            startup::database(&settings).await?;
            println!(
                "migrations applied to {}",
                startup::redact(&settings.database_url)
            );
            Ok(0)
        }
        Command::Backup { file, force } => {
            let done = crate::ops::backup(&settings, &file, force).await?;
            println!(
                "backed up to {} ({} bytes, schema {:04})",
                done.path.display(),
                done.bytes,
                done.schema
            );
            Ok(0)
        }
        Command::Restore { file, force } => {
            let done = crate::ops::restore(&settings, &file, force).await?;
            if let Some(kept) = &done.kept {
                println!("the replaced database is kept as {}", kept.display());
            }
            println!(
                "restored {} to {} (schema {:04}; `masterclass serve` applies newer migrations)",
                file.display(),
                done.path.display(),
                done.schema
            );
            Ok(0)
        }
        Command::Admin(cmd) => admin(settings, cmd).await,
        Command::Questions(cmd) => questions(settings, cmd).await,
        Command::Cert(CertCommand::RotateKey) => {
            let db = startup::database(&settings).await?;
            let kid = app::certs::keys::rotate(&db)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("new signing key {kid} is active; earlier keys stay published");
            Ok(0)
        }
        Command::Cert(CertCommand::Verify { .. }) => Ok(0),
        Command::Lab(_) | Command::Toy(_) | Command::Promql(_) | Command::Slo(_) => Ok(0),
        Command::Content(ContentCommand::Import { dir }) => {
            let mut settings = settings;
            if let Some(d) = dir {
                settings.content_dir = d;
            }
            if !settings.content_dir.is_dir() {
                anyhow::bail!(
                    "content folder {} does not exist",
                    settings.content_dir.display()
                );
            }
            let db = startup::database(&settings).await?;
            let sync = app::course::sync::import_dir(&db, &settings.content_dir).await?;
            if !sync.conflicts.is_empty() {
                for c in &sync.conflicts {
                    eprintln!("conflict: {c} changed in the folder and in the database since the last sync");
                }
                anyhow::bail!(
                    "{} conflicting files; nothing was imported. Keep one side: export the database to another folder and merge, or undo one change",
                    sync.conflicts.len()
                );
            }
            for k in &sync.kept {
                println!("kept {k} (the database's version is newer; export writes it back)");
            }
            println!(
                "{} files added, {} updated, {} removed",
                sync.added.len(),
                sync.updated.len(),
                sync.removed.len()
            );
            let published = app::course::sync::publish(&db, &settings.media_dir()).await?;
            let report = &published.report;
            for c in &report.imported {
                println!("imported {c}");
            }
            for c in &report.unchanged {
                println!("unchanged {c}");
            }
            for p in &report.problems {
                eprintln!("{p}");
            }
            for p in &published.exam_problems {
                eprintln!("{p}");
            }
            println!(
                "{} modules and {} labs stored, {} problems",
                report.modules,
                report.labs,
                report.problems.len() + published.exam_problems.len()
            );
            Ok(
                if report.problems.is_empty() && published.exam_problems.is_empty() {
                    0
                } else {
                    1
                },
            )
        }
        Command::Content(ContentCommand::Videos { dir, module, force }) => {
            let dir = dir.unwrap_or_else(|| settings.content_dir.clone());
            crate::videos::command(&dir, &settings.media_dir(), module.as_deref(), force)
        }
        Command::Content(ContentCommand::Export { dir }) => {
            let dir = dir.unwrap_or_else(|| settings.content_dir.clone());
            let db = startup::database(&settings).await?;
            let sync = app::course::sync::export_dir(&db, &dir).await?;
            if !sync.conflicts.is_empty() {
                for c in &sync.conflicts {
                    eprintln!("conflict: {c} changed in the folder and in the database since the last sync");
                }
                anyhow::bail!(
                    "{} conflicting files; nothing was exported",
                    sync.conflicts.len()
                );
            }
            for k in &sync.kept {
                println!("kept {k} (the folder's version is newer; import reads it in)");
            }
            println!(
                "{} files written, {} updated, into {}",
                sync.added.len(),
                sync.updated.len(),
                dir.display()
            );
            Ok(0)
        }
    }
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    let r = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("{url} answered {}", r.status()));
    }
    r.text()
        .await
        .map_err(|e| format!("cannot read {url}: {e}"))
}

/// `cert verify`: prints each check and exits 0 only for a valid, unrevoked credential.
async fn cert_verify(file: &std::path::Path, jwks: Option<&std::path::Path>, offline: bool) -> u8 {
    use app::certs::{jose, verify};
    let token = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return 1;
        }
    };
    let payload = jose::Jws::parse(&token).map(|j| j.payload);
    let jwks_text = match (jwks, &payload) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        (None, _) if offline => {
            Err("--offline needs --jwks FILE (the issuer's published keys)".to_string())
        }
        (None, Ok(p)) => match verify::issuer_id(p) {
            Some(issuer) => fetch_text(&verify::jwks_url_for(&issuer)).await,
            None => Err("the credential names no issuer to fetch keys from".to_string()),
        },
        (None, Err(e)) => Err(e.clone()),
    };
    let keys = jwks_text.and_then(|t| {
        serde_json::from_str::<serde_json::Value>(&t)
            .map_err(|_| "the JWKS is not valid JSON".to_string())
            .and_then(|v| jose::keys_from_jwks(&v))
    });
    let keys = match keys {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let status = match (&payload, offline) {
        (_, true) => verify::StatusSource::Skipped("--offline".into()),
        (Ok(p), false) => match verify::status_list_url(p) {
            None => verify::StatusSource::Skipped("the credential has no status entry".into()),
            Some(url) => match fetch_text(&url).await {
                Ok(doc) => match verify::status_bits(&doc, &keys) {
                    Ok(bits) => verify::StatusSource::Bits(bits),
                    Err(e) => verify::StatusSource::Failed(e),
                },
                Err(e) => verify::StatusSource::Failed(e),
            },
        },
        (Err(e), false) => verify::StatusSource::Failed(e.clone()),
    };
    let report = verify::verify(&token, &keys, status);
    for c in &report.checks {
        println!(
            "{:<11} {}  {}",
            c.name,
            if c.ok { "ok  " } else { "FAIL" },
            c.detail
        );
    }
    if let (Some(n), Some(a)) = (&report.recipient_name, &report.achievement) {
        println!("recipient   {n}\nachievement {a}");
    }
    if report.valid {
        println!("VALID");
        0
    } else {
        println!("INVALID: {}", report.reason.unwrap_or_default());
        1
    }
}

/// The course a `questions` command works on: the one named, or the only one.
async fn exam_course(db: &app::db::Db, course: Option<String>) -> anyhow::Result<i64> {
    match course {
        Some(slug) => app::exam::store::course_id(db, &slug)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no course has the slug {slug}")),
        None => {
            let all: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, slug FROM courses ORDER BY position, id")
                    .fetch_all(db)
                    .await?;
            match all.as_slice() {
                [(id, _)] => Ok(*id),
                [] => anyhow::bail!(
                    "there are no courses yet; run `masterclass content import` first"
                ),
                _ => anyhow::bail!(
                    "there are several courses; choose one with --course ({})",
                    all.iter()
                        .map(|(_, s)| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }
}

async fn questions(settings: Settings, cmd: QuestionsCommand) -> anyhow::Result<u8> {
    let db = startup::database(&settings).await?;
    // A question bank belongs to a course: on a fresh database, bring the
    // courses in from the content folder first, as `serve` would.
    let (courses,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM courses")
        .fetch_one(&db)
        .await?;
    if courses == 0 && settings.content_dir.is_dir() {
        startup::import_content(&db, &settings).await?;
    }
    match cmd {
        QuestionsCommand::Import { file, course } => {
            let src = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let parsed = app::exam::store::parse_file(&file.display().to_string(), &src);
            let qs = match parsed {
                Ok(qs) => qs,
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    eprintln!("nothing imported: {} problem(s)", problems.len());
                    return Ok(1);
                }
            };
            let cid = exam_course(&db, course).await?;
            let report = app::exam::store::store_questions(&db, cid, &qs).await?;
            println!(
                "{} questions read from {}: {report}",
                qs.len(),
                file.display()
            );
            Ok(0)
        }
        QuestionsCommand::Export { category, course } => {
            let cid = exam_course(&db, course).await?;
            let text = app::exam::store::export_gift(&db, cid, category.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if text.is_empty() {
                match category {
                    Some(c) => anyhow::bail!("no questions in category {c:?}"),
                    None => anyhow::bail!("the question bank is empty"),
                }
            }
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(0)
        }
    }
}

async fn admin(settings: Settings, cmd: AdminCommand) -> anyhow::Result<u8> {
    use app::auth::accounts;
    use app::auth::validate::{DisplayName, Email, NewPassword};
    let db = startup::database(&settings).await?;
    let bad = |e: app::error::AppError| anyhow::anyhow!("{e}");
    match cmd {
        AdminCommand::Create {
            email,
            name,
            password,
        } => {
            let email = Email::parse(&email).map_err(bad)?;
            let name = DisplayName::parse(&name).map_err(bad)?;
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (startup::generate_password(), true),
            };
            let pw = NewPassword::parse(&password).map_err(bad)?;
            accounts::create_user(&db, &email, &name, &pw, true)
                .await
                .map_err(bad)?;
            println!("administrator {} created", email.as_str());
            if generated {
                println!("password (shown once): {password}");
            }
            Ok(0)
        }
        AdminCommand::Promote { email } => {
            let email = Email::parse(&email).map_err(bad)?;
            if accounts::promote(&db, &email).await.map_err(bad)? {
                println!("{} is now an administrator", email.as_str());
                Ok(0)
            } else {
                anyhow::bail!("no account has the email {}", email.as_str())
            }
        }
        AdminCommand::ResetLink { email } => {
            match accounts::issue_reset_link(&db, &settings.public_url, &email)
                .await
                .map_err(bad)?
            {
                Some(link) => {
                    println!("{link}");
                    Ok(0)
                }
                None => anyhow::bail!("no account has the email {}", email.trim()),
            }
        }
    }
}

/// How long running lab runs get to finish on a stop before they are handed back.
const LAB_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);
/// How long open connections (live event streams) get to close on a stop.
const HTTP_DRAIN: std::time::Duration = std::time::Duration::from_secs(15);

async fn serve(settings: Settings) -> anyhow::Result<u8> {
    let db = startup::database(&settings).await?;
    // `restore` refuses to swap the database under a running server.
    let _running = crate::ops::hold_data_dir(&settings.data_dir)?;
    if settings.content_dir.is_dir() {
        startup::import_content(&db, &settings).await?;
    } else {
        tracing::warn!(dir = %settings.content_dir.display(), "no content folder; serving what the database holds");
    }
    if let Some((email, password)) = startup::ensure_admin(&db, &settings).await? {
        println!(
            "\n  An administrator account was created. These credentials are shown only once:\n"
        );
        println!("    email:    {email}\n    password: {password}\n");
    }
    let mut limits = app::auth::ratelimit::Limits::default();
    limits.register_per_ip.max = settings.signups_per_hour;
    let server = startup::build(&settings, db, limits).await?;
    // Installed before the address is printed: a SIGTERM sent the moment the
    // server says it is serving must be a graceful stop, not the default kill.
    let stop_signal = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.addr))?;
    // The bound address, not the configured one: with port 0 the system picks it.
    let addr = listener.local_addr().unwrap_or(settings.addr);
    println!("Masterclass is serving at http://{addr}");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let http = std::future::IntoFuture::into_future(
        axum::serve(
            listener,
            server
                .router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }),
    );
    tokio::pin!(http);
    tokio::select! {
        r = &mut http => r?,
        () = stop_signal => {
            // A graceful stop: no new lab runs are claimed, running ones get a
            // moment to finish and are otherwise handed back to the queue for
            // another instance; requests in flight (exam saves) complete.
            let _ = stop_tx.send(true);
            let labs = server.state.labs.clone();
            let (handed, http) = tokio::join!(
                labs.drain(&server.state.db, LAB_DRAIN),
                tokio::time::timeout(HTTP_DRAIN, &mut http)
            );
            if handed > 0 {
                tracing::info!(runs = handed, "lab runs handed back to the queue");
            }
            match http {
                Ok(r) => r?,
                Err(_) => tracing::warn!("connections still open after {} s; closing them", HTTP_DRAIN.as_secs()),
            }
            server.state.db.close().await;
        }
    }
    tracing::info!("stopped");
    Ok(0)
}

/// The stop signals (SIGTERM, SIGINT / Ctrl-C), registered when this is called;
/// the returned future completes on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let stop = {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        async move {
            tokio::select! { _ = term.recv() => {}, _ = interrupt.recv() => {} }
        }
    };
    #[cfg(not(unix))]
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        stop.await;
        tracing::info!("shutting down");
    })
}
